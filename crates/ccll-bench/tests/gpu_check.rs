//! `scripts/gpu-check.sh`, the GPU figures a session with a GPU runs, checked on the CPU:
//! with `--cpu` every step runs with tiny sizes and the summary has the training ratio and
//! the 4-job sweep on one device; without `--cpu` on a machine with no CUDA device it stops
//! at once with exit status 2, saying so.
//!
//! Uses the binaries of this build (`ccll`, `ccll-report` beside `ccll-bench`: `just test`
//! builds them all) and the PyTorch reference in `.venv` (setup.sh installs it); without it
//! the test prints why and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gpu-check.sh")
}

/// `ccll` and `ccll-report` of this build, next to `ccll-bench`.
fn sibling(name: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_ccll-bench"))
        .parent()
        .unwrap()
        .join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build --workspace --bins` (just test does)",
        bin.display()
    );
    bin
}

fn gpu_check(args: &[&str], out: &Path) -> std::process::Output {
    let o = Command::new("bash")
        .arg(script())
        .args(args)
        .arg("--out")
        .arg(out)
        .env("CCLL_BIN", sibling("ccll"))
        .env("CCLL_BENCH_BIN", env!("CARGO_BIN_EXE_ccll-bench"))
        .output()
        .expect("running scripts/gpu-check.sh");
    eprintln!(
        "--- gpu-check {args:?} -> {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn the_gpu_check_runs_every_step_on_the_cpu_and_stops_clearly_without_a_gpu() {
    if let Err(e) = ccll_bench::reference::Reference::locate() {
        eprintln!("SKIPPED: no PyTorch reference available: {e:#}");
        return;
    }
    sibling("ccll-report");
    let dir = tempfile::tempdir().unwrap();
    let o = gpu_check(&["--cpu"], dir.path());
    assert!(o.status.success());
    let summary = std::fs::read_to_string(dir.path().join("summary.txt")).unwrap();
    for needle in [
        "gpu-check on cpu",
        "same function: convnet w32 28px task2 α1",
        "| yes |",
        "4 of 4 runs finished at --jobs-per-device 4; devices used: cpu",
        "concurrency",
        "not GPU figures",
    ] {
        assert!(summary.contains(needle), "no `{needle}` in\n{summary}");
    }

    if tch::Cuda::is_available() {
        return; // the real check takes minutes; run the script by hand on a GPU machine
    }
    let o = gpu_check(&[], &dir.path().join("gpu"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("libtorch sees no CUDA device") && err.contains("use --cpu"),
        "{err}"
    );
}
