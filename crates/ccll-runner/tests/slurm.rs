//! The Slurm executor on a real one-node cluster (`scripts/slurm-local.sh`, started here if it
//! is not running): a small sweep is submitted as array jobs and every run is recorded.
//! Skipped, with the reason printed, only where a cluster cannot be started (not root, or the
//! Slurm packages are missing).

mod common;

use ccll_report::RunStatus;
use common::{repo_root, run, test_study, Sandbox};
use std::process::Command;

fn slurm_dir() -> std::path::PathBuf {
    std::env::var_os("CCLL_SLURM_DIR")
        .map(Into::into)
        .unwrap_or_else(|| "/tmp/ccll-slurm".into())
}

/// Starts (or finds) the local cluster; `Err(reason)` when that is impossible here.
fn cluster() -> Result<std::path::PathBuf, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: slurmd must run as root".into());
    }
    for p in ["sbatch", "squeue", "slurmctld", "slurmd", "munged"] {
        let found = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(p).exists());
        if !found {
            return Err(format!(
                "`{p}` is not installed (apt-get install munge slurmctld slurmd slurm-client)"
            ));
        }
    }
    let script = repo_root().join("scripts/slurm-local.sh");
    let out = Command::new(&script)
        .arg("start")
        .env("CCLL_SLURM_DIR", slurm_dir())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    // Packages present and root: a cluster that does not start is a failure, not a skip.
    assert!(
        out.status.success(),
        "scripts/slurm-local.sh start failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(slurm_dir().join("slurm.conf"))
}

#[test]
fn a_sweep_on_a_one_node_slurm_cluster_records_every_run() {
    let conf = match cluster() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED: no local Slurm cluster: {why}");
            return;
        }
    };
    let sb = Sandbox::new();
    let study = test_study("synthetic");
    let out = run(sb
        .sweep(
            &study,
            &[
                "--executor",
                "slurm",
                "--poll-interval",
                "0.5",
                "--time",
                "00:10:00",
                "--no-report",
            ],
        )
        .env("SLURM_CONF", &conf));
    assert!(out.status.success());
    let rows = sb.rows("synthetic");
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r.status, RunStatus::Finished, "{}: {:?}", r.name, r.error);
        assert!(
            r.device.as_deref().is_some_and(|d| d.starts_with("cpu")),
            "{:?}",
            r.device
        );
    }
    // One array for the two bases, then the runs in one array per wave of bases that finished
    // together (one or two waves, depending on timing): every job submitted exactly once.
    let slurm = sb.runs().join("synthetic/.slurm");
    let lists: Vec<_> = std::fs::read_dir(&slurm)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jobs.json"))
        .collect();
    assert!((2..=3).contains(&lists.len()), "{lists:?}");
    let tasks: usize = lists
        .iter()
        .map(|p| {
            let list: Vec<serde_json::Value> =
                serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            list.len()
        })
        .sum();
    assert_eq!(tasks, 2 + 5, "{lists:?}");
    assert!(!slurm.join("active.json").exists(), "no array left active");
    // Every run's log came from its array task.
    for r in &rows {
        let text = run_log(&sb, &r.config_hash);
        assert!(text.contains("ccll worker"), "{text}");
    }
}

fn run_log(sb: &Sandbox, hash: &str) -> String {
    let dir = std::fs::read_dir(sb.runs().join("synthetic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&hash[..8]))
        .unwrap();
    std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default()
}
