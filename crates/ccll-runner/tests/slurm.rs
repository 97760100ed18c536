//! The Slurm executor on a real one-node cluster (`scripts/slurm-local.sh`, started here if it
//! is not running): a small sweep is submitted as array jobs and every run is recorded.
//! Skipped, with the reason printed, only where a cluster cannot be started (not root, or the
//! Slurm packages are missing).

mod common;

use ccll_report::RunStatus;
use common::{repo_root, run, test_study, Sandbox};
use std::process::Command;

/// How the tests run a sweep on the local cluster.
const SLURM_ARGS: [&str; 7] = [
    "--executor",
    "slurm",
    "--poll-interval",
    "0.5",
    "--time",
    "00:10:00",
    "--no-report",
];

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
    let out = run(sb.sweep(&study, &SLURM_ARGS).env("SLURM_CONF", &conf));
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

/// Waits until the store shows the only run of `sweep` running with at least 2 tasks done;
/// returns its Slurm job id (`ARRAY_INDEX`) from squeue.
fn running_with_two_tasks(sb: &Sandbox, sweep: &str, conf: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got past task 2"
        );
        let done = sb.running_tasks_done();
        if done.is_some_and(|n| (2..6).contains(&n)) {
            let q = Command::new("squeue")
                .args([
                    "-h",
                    "-n",
                    &format!("ccll-{sweep}"),
                    "-t",
                    "RUNNING",
                    "-o",
                    "%i",
                ])
                .env("SLURM_CONF", conf)
                .output()
                .unwrap();
            let id = String::from_utf8_lossy(&q.stdout).trim().to_string();
            if !id.is_empty() {
                return id;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A worker told by Slurm that its time is up (`scancel --signal=USR2 --batch`, what
/// `--signal=B:USR2@90` sends before a time limit or a preemption) stops, the runner requeues
/// the job (counted in the store, shown by `ccll status`), and the run continues after its
/// last finished task; a job Slurm itself requeues (`scontrol requeue`) continues the same
/// way. Both end with the matrix of an uninterrupted run.
#[test]
fn a_signalled_or_requeued_slurm_job_continues_its_run() {
    let conf = match cluster() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED: no local Slurm cluster: {why}");
            return;
        }
    };
    let study = test_study("long_run");
    let local = Sandbox::new();
    // One thread, as a Slurm job with one CPU has: float sums depend on the thread count.
    assert!(
        run(&mut local.sweep(&study, &["--no-report", "--threads", "1"]))
            .status
            .success()
    );
    let local_id = local.rows("long_run")[0].id;
    let expected = common::block_on(async {
        let s = ccll_report::Store::open_read_only(&local.db())
            .await
            .unwrap();
        s.run_result(local_id).await.unwrap()
    });
    for how in ["usr2", "scontrol"] {
        let sb = Sandbox::new();
        let child = sb
            .sweep(&study, &SLURM_ARGS)
            .env("SLURM_CONF", &conf)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let job = running_with_two_tasks(&sb, "long_run", &conf);
        let args: Vec<&str> = match how {
            "usr2" => vec!["scancel", "--signal=USR2", "--batch", &job],
            _ => vec!["scontrol", "requeue", &job],
        };
        let o = Command::new(args[0])
            .args(&args[1..])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{how}: the sweep failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let row = &sb.rows("long_run")[0];
        assert_eq!(row.status, RunStatus::Finished, "{how}: {:?}", row.error);
        if how == "usr2" {
            assert_eq!(row.requeues, 1, "{how}");
            assert!(row
                .requeue_reason
                .as_deref()
                .is_some_and(|r| r.contains("SIGUSR2")));
            let status = run(common::ccll()
                .args(["status", "long_run", "--db"])
                .arg(sb.db()));
            assert!(String::from_utf8_lossy(&status.stdout).contains("1 (SIGUSR2"));
        }
        let dir = std::fs::read_dir(sb.runs().join("long_run"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("result.json").is_file())
            .unwrap();
        let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        assert!(
            events.contains("\"resumed\""),
            "{how}: the last attempt did not resume"
        );
        let got = common::block_on(async {
            let s = ccll_report::Store::open_read_only(&sb.db()).await.unwrap();
            s.run_result(row.id).await.unwrap()
        });
        assert_eq!(got.acc_matrix, expected.acc_matrix, "{how}");
        assert_eq!(got.loss_matrix, expected.loss_matrix, "{how}");
    }
}

/// A job that runs into its time limit (`--time 00:01:00`, no warning signal): Slurm ends it
/// as TIMEOUT, the runner requeues it instead of failing the run (reason in the store), and
/// the next attempt finishes. The job is a sleep job (`CCLL_SLEEP_JOBS`: it sleeps instead of
/// training, so the minute it waits costs no CPU); its length is read when it starts, so the
/// map is shortened once the first attempt is running.
#[test]
fn a_job_past_its_time_limit_is_requeued_and_finishes() {
    let conf = match cluster() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED: no local Slurm cluster: {why}");
            return;
        }
    };
    let sb = Sandbox::new();
    let map = sb.dir.path().join("sleep.json");
    std::fs::write(&map, r#"{"ewc seed=0": 600}"#).unwrap();
    let args = [
        "--executor",
        "slurm",
        "--poll-interval",
        "0.5",
        "--time",
        "00:01:00",
        "--signal-before",
        "0",
        "--no-report",
        // Its own Slurm job name: the other tests of this file run long_run at the same time.
        "--name",
        "long_run_timeout",
    ];
    let child = sb
        .sweep(&test_study("long_run"), &args)
        .env("SLURM_CONF", &conf)
        .env("CCLL_SLEEP_JOBS", &map)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !sb
        .dir
        .path()
        .join("runs/long_run_timeout")
        .read_dir()
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("worker.log").is_file())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The first attempt has read its 600 s; the next one sleeps 1 s.
    std::thread::sleep(std::time::Duration::from_secs(2));
    std::fs::write(&map, r#"{"ewc seed=0": 1}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the sweep failed:\n{text}");
    let row = &sb.rows("long_run_timeout")[0];
    assert_eq!(row.status, RunStatus::Finished, "{:?}\n{text}", row.error);
    assert_eq!(row.requeues, 1, "{text}");
    assert_eq!(
        row.requeue_reason.as_deref(),
        Some("Slurm state TIMEOUT"),
        "{text}"
    );
}
