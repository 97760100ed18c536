//! Figure 5: the results store and the worker's memory. Recording one finished 10-task run
//! (`Store::record_finished`), building the summary table of a sweep of 10,000 finished runs
//! (`SweepData::load` + `summarize` + Markdown, what `ccll-report table` does), and the peak
//! resident memory of a worker process running a quickstart-sized run.

use crate::report::{Figure, Target};
use crate::timing::median;
use crate::Options;
use anyhow::Context;
use ccll_report::{sweep_table, NewRun, NewSweep, Store, TableFormat};
use ccll_results::{
    Artifact, EpochRecord, Flops, Metrics, ParamReport, RunResult, TaskInfo, TaskMatrix,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECTION: &str = "5. results store and worker memory";
/// Tasks of a recorded run.
pub const TASKS: usize = 10;
/// Epochs per task in a recorded run's curves.
pub const EPOCHS: usize = 5;
/// Runs of the big sweep.
pub const SWEEP_RUNS: usize = 10_000;
/// Bump when the content of the filled store changes, so an old cache is not reused.
const FILL_VERSION: u32 = 1;

const METHODS: [&str; 5] = ["ccll", "ccll_sc", "finetune", "ewc", "lwf"];
const ALPHAS: [i64; 4] = [1, 2, 4, 8];
/// Learning rates x seeds fill the rest of the grid: 5 x 4 x 50 x 10 = 10,000.
const LRS: usize = 50;
const SEEDS: usize = 10;

/// A plausible finished run: 10 tasks, full accuracy and loss matrices, parameters, curves,
/// artifacts.
pub fn result(method: &str, alpha: i64, seed: u64) -> RunResult {
    let forget = if method.starts_with("ccll") { 0.0 } else { 2.0 };
    let mut acc = TaskMatrix::new();
    let mut loss = TaskMatrix::new();
    for i in 0..TASKS {
        let row: Vec<f64> = (0..=i)
            .map(|j| {
                90.0 + alpha as f64 * 0.3 + seed as f64 * 0.01
                    - j as f64 * 0.5
                    - forget * (i - j) as f64
            })
            .collect();
        acc.push_row(&row, TASKS);
        loss.push_row(
            &row.iter().map(|a| (100.0 - a) / 40.0).collect::<Vec<_>>(),
            TASKS,
        );
    }
    let per_task: Vec<(u64, u64)> = (0..TASKS)
        .map(|t| (if t == 0 { 0 } else { 12_000 * alpha as u64 }, 5_130))
        .collect();
    RunResult {
        task_agnostic: None,
        method: method.into(),
        benchmark: "split_cifar100".into(),
        seed,
        tasks: (0..TASKS)
            .map(|t| TaskInfo {
                name: format!("task {}", t + 1),
                classes: (0..10).map(|c| format!("class{}", 10 * t + c)).collect(),
                train_samples: 5000,
                test_samples: 1000,
            })
            .collect(),
        metrics: Metrics::from_matrix(&acc).expect("a full matrix"),
        acc_matrix: acc,
        loss_matrix: loss,
        params: ParamReport::from_counts(
            11_000_000,
            &per_task,
            Flops {
                base: 556_000_000,
                calibration: 9_000_000,
            },
        ),
        curves: (1..=TASKS)
            .flat_map(|task| {
                (1..=EPOCHS).map(move |epoch| EpochRecord {
                    task,
                    epoch,
                    train_loss: 1.0 / epoch as f64,
                    train_acc: 60.0 + epoch as f64,
                    lr: 0.05,
                    seconds: 12.5,
                })
            })
            .collect(),
        artifacts: (0..=TASKS)
            .map(|t| Artifact {
                kind: if t == 0 {
                    "base".into()
                } else {
                    format!("task{t}")
                },
                path: format!("runs/x/task{t}.safetensors"),
                sha256: "ab".repeat(32),
                bytes: 1_000_000,
            })
            .collect(),
        device: "cpu".into(),
        data_source: String::new(),
        wall_seconds: 600.0,
    }
}

/// The registration of one grid point.
pub fn new_run(sweep_id: Option<i64>, method: &str, alpha: i64, lr: usize, seed: i64) -> NewRun {
    let lr_value = 0.001 * (lr + 1) as f64;
    NewRun {
        sweep_id,
        name: format!("{method} a={alpha} lr={lr_value} seed={seed}"),
        config: json!({
            "method": {"name": method, "alpha": alpha, "beta": 1},
            "benchmark": {"name": "split_cifar100"},
            "train": {"seed": seed, "lr": lr_value},
        }),
        config_hash: format!("{method}-{alpha}-{lr}-{seed}"),
        group_key: format!("{method}-{alpha}-{lr}"),
        swept: json!({"method.name": method, "method.alpha": alpha, "train.lr": lr_value, "train.seed": seed}),
        method: method.into(),
        benchmark: "split_cifar100".into(),
        arch: "resnet18".into(),
        alpha: Some(alpha),
        beta: Some(1),
        seed,
        base_source: "task1".into(),
        git_commit: Some("0123abcd".into()),
        git_dirty: false,
        run_dir: None,
        base_hash: None,
    }
}

async fn record(
    store: &Store,
    sweep_id: i64,
    m: &str,
    a: i64,
    lr: usize,
    s: i64,
) -> anyhow::Result<f64> {
    let id = store
        .register_run(&new_run(Some(sweep_id), m, a, lr, s))
        .await?;
    store.mark_running(id, "cpu", "benchhost").await?;
    let r = result(m, a, s as u64);
    let t = std::time::Instant::now();
    store.record_finished(id, &r).await?;
    Ok(t.elapsed().as_secs_f64())
}

async fn sweep(store: &Store, name: &str) -> anyhow::Result<i64> {
    Ok(store
        .upsert_sweep(&NewSweep {
            name: name.into(),
            study_file: None,
            profile: None,
            spec: json!({"grid": {"method.name": METHODS, "method.alpha": ALPHAS, "train.lr": LRS, "train.seed": SEEDS}}),
        })
        .await?)
}

/// Fills a store with a finished sweep of `SWEEP_RUNS` runs, through the store's API.
async fn fill(path: &Path) -> anyhow::Result<f64> {
    let store = Store::open(path).await?;
    let id = sweep(&store, "big").await?;
    let started = std::time::Instant::now();
    let mut n = 0;
    for m in METHODS {
        for a in ALPHAS {
            for lr in 0..LRS {
                for s in 0..SEEDS as i64 {
                    record(&store, id, m, a, lr, s).await?;
                    n += 1;
                    if n % 1000 == 0 {
                        eprintln!(
                            "[store] filled {n} / {SWEEP_RUNS} runs ({:.0} s)",
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            }
        }
    }
    store.close().await;
    Ok(started.elapsed().as_secs_f64())
}

/// The filled store, from the cache folder when an earlier bench made it.
async fn big_store(cache: &Path) -> anyhow::Result<(PathBuf, Option<f64>)> {
    let schema = Store::migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let path = cache.join(format!(
        "store-{SWEEP_RUNS}-s{schema}-f{FILL_VERSION}.sqlite"
    ));
    if path.is_file() {
        return Ok((path, None));
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let tmp = cache.join(format!("filling-{}.sqlite", std::process::id()));
    let secs = fill(&tmp).await?;
    // Closing the last connection checkpoints the WAL; move any side file along anyway.
    for ext in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{ext}", tmp.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{ext}", path.display()))
                .with_context(|| format!("renaming {}", from.display()))?;
        }
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok((path, Some(secs)))
}

/// Time to build the sweep table, as `ccll-report table --sweep big` does it.
async fn table_time(path: &Path) -> anyhow::Result<(f64, usize)> {
    let store = Store::open_existing(path).await?;
    let t = std::time::Instant::now();
    let text = sweep_table(&store, "big").await?.render(TableFormat::Md);
    let secs = t.elapsed().as_secs_f64();
    store.close().await;
    Ok((secs, text.lines().count()))
}

pub fn run(opts: &Options, cache: &Path, worker: &WorkerCommand) -> Vec<Figure> {
    let mut figures = Vec::new();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return vec![Figure::failed(
                SECTION,
                "store",
                Target::None,
                e.to_string(),
            )];
        }
    };
    eprintln!("[store] recording 10-task runs");
    let recorded = rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&dir.path().join("one.sqlite")).await?;
        let id = sweep(&store, "one").await?;
        let mut times = Vec::new();
        let n = if opts.quick { 10 } else { 30 };
        for s in 0..n {
            times.push(record(&store, id, "ccll", 4, 0, s).await?);
        }
        store.close().await;
        anyhow::Ok(times)
    });
    figures.push(match recorded {
        Ok(times) => Figure::plain(
            SECTION,
            format!("record one finished run ({TASKS}-task matrices, params, {} curve points, {} artifacts)", TASKS * EPOCHS, TASKS + 1),
            "ms",
            median(&times) * 1e3,
        )
        .note(format!("Store::record_finished, one transaction; median of {} runs into one store file (WAL)", times.len())),
        Err(e) => Figure::failed(SECTION, "record one run", Target::None, format!("{e:#}")),
    });

    eprintln!("[store] table of a {SWEEP_RUNS}-run sweep");
    let table = rt.block_on(async {
        let (path, filled) = big_store(cache).await?;
        let mut times = Vec::new();
        let mut lines = 0;
        for _ in 0..if opts.quick { 1 } else { 3 } {
            let (t, l) = table_time(&path).await?;
            times.push(t);
            lines = l;
        }
        anyhow::Ok((times, lines, filled, path))
    });
    figures.push(match table {
        Ok((times, lines, filled, path)) => Figure::plain(
            SECTION,
            format!("build the table of a sweep of {SWEEP_RUNS} finished runs"),
            "s",
            median(&times),
        )
        .target_on_value(Target::AtMost(1.0))
        .note(format!(
            "sweep_table (SQL reads of the table's figures, no result decoded) + Markdown ({} groups); median of {}; store {}{}",
            lines.saturating_sub(2),
            times.len(),
            path.display(),
            match filled {
                Some(s) => format!(
                    " filled in {s:.0} s ({:.1} ms/run through the API)",
                    1e3 * s / SWEEP_RUNS as f64
                ),
                None => " (cached from an earlier bench)".into(),
            }
        )),
        Err(e) => Figure::failed(SECTION, "sweep table", Target::None, format!("{e:#}")),
    });

    eprintln!("[store] peak memory of a worker");
    figures.push(match worker_peak(worker) {
        Ok((kib, secs, what)) => Figure::plain(
            SECTION,
            "peak resident memory of a worker, quickstart run",
            "MiB",
            kib as f64 / 1024.0,
        )
        .note(format!(
            "VmHWM (ru_maxrss) of the child; {what}; ran {secs:.1} s"
        )),
        Err(e) => Figure::failed(
            SECTION,
            "worker peak memory",
            Target::None,
            format!("{e:#}"),
        ),
    });
    figures
}

/// The process whose memory is measured: a program and its arguments.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub description: String,
}

/// Runs the worker to completion; returns its peak resident set (KiB) and its wall time.
pub fn worker_peak(worker: &WorkerCommand) -> anyhow::Result<(u64, f64, String)> {
    let started = std::time::Instant::now();
    let child = Command::new(&worker.program)
        .args(&worker.args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", worker.program.display()))?;
    let pid = child.id() as libc::pid_t;
    // Drain stderr in a thread so the child never blocks on a full pipe.
    let stderr = child.stderr;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    });
    let mut status = 0;
    // SAFETY: plain FFI; `usage` is a zeroed rusage that wait4 fills for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let err = reader.join().unwrap_or_default();
    anyhow::ensure!(
        r == pid,
        "waiting for the worker: {}",
        std::io::Error::last_os_error()
    );
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the worker failed ({status}): {}",
        err.lines().rev().take(5).collect::<Vec<_>>().join(" / ")
    );
    Ok((
        usage.ru_maxrss as u64,
        started.elapsed().as_secs_f64(),
        worker.description.clone(),
    ))
}
