//! `ccll-bench`: the benchmarks of ccll as figures with targets (see the crate docs of
//! `ccll_bench` and README.md#benchmarks-just-bench). `ccll-bench all` is what `just bench` runs.

use ccll_bench::reference::Reference;
use ccll_bench::report::{BenchReport, Figure, MachineInfo, Target};
use ccll_bench::store::WorkerCommand;
use ccll_bench::{epoch, overhead, scheduler, store, throughput, Options};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tch::Device;

#[derive(Parser)]
#[command(
    name = "ccll-bench",
    about = "Benchmarks of ccll: training throughput against PyTorch, calibration overhead, \
             input pipeline, sweep scheduler, results store",
    long_about = "Benchmarks of ccll. Every figure is a ratio measured in one run (the two \
                  sides alternate, back to back, medians over rounds), printed as a table \
                  with its target and written to OUT/bench.json and OUT/bench.md (a single \
                  part writes OUT/bench-PART.{json,md})."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Fewer rounds and shorter timed blocks (about half the time; noisier).
    #[arg(long, global = true)]
    quick: bool,
    /// libtorch intra-op threads on both sides (default: the number of cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Rounds of alternating measurement (default 5, quick 3).
    #[arg(long, global = true, default_value_t = 0)]
    rounds: usize,
    /// Devices: `auto` (CPU, plus CUDA when present), `cpu`, or `cuda`.
    #[arg(long, global = true, default_value = "auto")]
    device: String,
    /// Where bench.json and bench.md go.
    #[arg(long, global = true, default_value = "reports")]
    out: PathBuf,
    /// Only the models whose label contains this text (parts 1 and 2), e.g. `convnet`.
    #[arg(long, global = true)]
    only: Option<String>,
    /// Part 1 without the torch.compile column (its compilation takes about a minute per
    /// model on 2 cores).
    #[arg(long, global = true)]
    no_compile: bool,
    /// Folder for reusable inputs (the 10,000-run store).
    #[arg(long, global = true, default_value = "target/ccll-bench")]
    cache: PathBuf,
    /// The `ccll` binary whose worker is measured (default: target/release/ccll, else
    /// target/debug/ccll, else this binary running the same engine call).
    #[arg(long, global = true, env = "CCLL_BIN")]
    ccll: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every part, in order; writes bench.json and bench.md.
    All,
    /// 1. Training throughput against the PyTorch reference (with the equivalence checks).
    Throughput,
    /// 2. Inference time and FLOPs of base + calibration against the base alone.
    Overhead,
    /// 3. A real-data epoch against the pure compute of its steps.
    Epoch,
    /// 4. The sweep scheduler's makespan against the lower bound, and its per-job overhead.
    Scheduler,
    /// 5. Recording a run, the table of a 10,000-run sweep, a worker's peak memory.
    Store,
    /// 6. Inferring the task without the task id: one_shot vs min_entropy vs task-aware.
    TaskInference,
    /// Only the equivalence checks of part 1 (fast).
    Check,
    /// Times N training steps of ours only for the models of part 1 (`--only`), and writes
    /// the weights and batch the reference's `--serve` mode reads (for profilers).
    #[command(hide = true)]
    Steps {
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// Where to write weights.safetensors, batch.safetensors and spec.json.
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// Runs one lifelong run from a config (the worker stand-in whose memory part 5 measures).
    #[command(hide = true)]
    RunConfig {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

fn devices(spec: &str) -> anyhow::Result<Vec<Device>> {
    let cuda = tch::Cuda::is_available();
    Ok(match spec {
        "auto" if cuda => vec![Device::Cpu, Device::Cuda(0)],
        "auto" | "cpu" => vec![Device::Cpu],
        "cuda" if cuda => vec![Device::Cuda(0)],
        "cuda" => anyhow::bail!("--device cuda: libtorch sees no CUDA device"),
        other => anyhow::bail!("--device {other}: use auto, cpu or cuda"),
    })
}

/// The quickstart-sized run whose worker memory is measured.
const QUICKSTART: &str = "benchmark: {name: split_mnist}
model: {arch: convnet, width: 32}
method: {name: ccll, alpha: 1, beta: 1}
train: {epochs: 1, batch_size: 64}
";

fn worker_command(cli: &Cli, scratch: &std::path::Path) -> anyhow::Result<WorkerCommand> {
    let config = scratch.join("quickstart-run.yaml");
    std::fs::write(&config, QUICKSTART)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", config.display()))?;
    let out = scratch.join("quickstart-out");
    let candidates = [
        cli.ccll.clone(),
        Some(PathBuf::from("target/release/ccll")),
        Some(PathBuf::from("target/debug/ccll")),
    ];
    if let Some(bin) = candidates.into_iter().flatten().find(|p| p.is_file()) {
        return Ok(WorkerCommand {
            description: format!(
                "`{} train` (split_mnist, convnet, ccll, 1 epoch per task, --no-store)",
                bin.display()
            ),
            program: bin,
            args: vec![
                "train".into(),
                "--config".into(),
                config.display().to_string(),
                "--out".into(),
                out.display().to_string(),
                "--no-store".into(),
                "--device".into(),
                "cpu".into(),
            ],
        });
    }
    Ok(WorkerCommand {
        program: std::env::current_exe()?,
        args: vec![
            "run-config".into(),
            "--config".into(),
            config.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ],
        description: "ccll_core::run::run in a child of ccll-bench (no ccll binary found) on split_mnist, convnet, ccll, 1 epoch per task".into(),
    })
}

fn main() -> anyhow::Result<()> {
    ccll_core::allocator::keep_freed_memory();
    let cli = Cli::parse();
    if let Cmd::RunConfig { config, out } = &cli.command {
        let cfg = ccll_core::RunConfig::from_file(config)?;
        let opts = ccll_core::RunOptions {
            data_root: None,
            out_dir: out.clone(),
            base_dir: None,
            placement: ccll_core::Placement::cpu(0),
        };
        ccll_core::run(&cfg, &opts, &mut |_| {})?;
        return Ok(());
    }
    let threads = cli.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    tch::set_num_threads(threads as i32);
    let opts = Options {
        threads,
        quick: cli.quick,
        rounds: cli.rounds,
        only: cli.only.clone(),
        compile: !cli.no_compile,
    };
    let devices = devices(&cli.device)?;
    if let Cmd::Steps { steps, dump } = &cli.command {
        for (spec, _, _) in throughput::cases(opts.only.as_deref()) {
            let mut model = ccll_bench::model::BenchModel::new(&spec, devices[0], 7)?;
            model.randomize(8);
            let (x, y) = model.random_batch(9);
            if let Some(dir) = dump {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
                model.save_weights(&dir.join("weights.safetensors"))?;
                ccll_bench::model::save_batch(&x, &y, &dir.join("batch.safetensors"))?;
                let spec_file = dir.join("spec.json");
                std::fs::write(
                    &spec_file,
                    spec.reference_spec(&model.config.train, threads, devices[0]),
                )
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", spec_file.display()))?;
            }
            for _ in 0..2 {
                let _ = model.step(&x, &y);
            }
            let t = std::time::Instant::now();
            let cpu = ccll_bench::timing::cpu_seconds();
            for _ in 0..*steps {
                let _ = model.step(&x, &y);
            }
            model.sync();
            let secs = t.elapsed().as_secs_f64();
            let cpu = ccll_bench::timing::cpu_seconds() - cpu;
            let images = (*steps as i64 * spec.batch) as f64;
            println!(
                "{}: {steps} steps in {secs:.2} s, {:.1} img/s, {:.1} img/cpu-s",
                spec.label(),
                images / secs,
                images / cpu
            );
        }
        return Ok(());
    }
    let needs_reference = matches!(cli.command, Cmd::All | Cmd::Throughput | Cmd::Check);
    let reference = if needs_reference {
        Some(Reference::locate())
    } else {
        None
    };
    let torch = match &reference {
        Some(Ok(r)) => r.torch_version().to_string(),
        _ => "libtorch of .venv".into(),
    };
    let mut figures: Vec<Figure> = Vec::new();
    let all = matches!(cli.command, Cmd::All);
    if all || matches!(cli.command, Cmd::Throughput | Cmd::Check) {
        match &reference {
            Some(Ok(r)) => {
                for &d in &devices {
                    if matches!(cli.command, Cmd::Check) {
                        for (spec, _, _) in throughput::cases(opts.only.as_deref()) {
                            let e = throughput::check_equivalence(r, &spec, d, threads, 1234)?;
                            println!(
                                "{}: {} — {}",
                                spec.label(),
                                if e.holds() { "same" } else { "DIFFERENT" },
                                e.summary()
                            );
                        }
                    } else {
                        figures.extend(throughput::run(r, d, &opts));
                    }
                }
            }
            Some(Err(e)) => figures.push(Figure::failed(
                "1. training throughput vs PyTorch",
                "PyTorch reference",
                Target::AtLeast(1.0),
                format!("{e:#}"),
            )),
            None => {}
        }
        if matches!(cli.command, Cmd::Check) {
            return Ok(());
        }
    }
    if all || matches!(cli.command, Cmd::Overhead) {
        for &d in &devices {
            figures.extend(overhead::run(d, &opts));
        }
    }
    if all || matches!(cli.command, Cmd::Epoch) {
        for &d in &devices {
            figures.extend(epoch::run(d, &opts));
        }
    }
    if all || matches!(cli.command, Cmd::Scheduler) {
        figures.extend(scheduler::run(&opts, cli.ccll.as_deref()));
    }
    if all || matches!(cli.command, Cmd::Store) {
        let scratch = tempfile::tempdir()?;
        let worker = worker_command(&cli, scratch.path())?;
        figures.extend(store::run(&opts, &cli.cache, &worker));
    }
    if all || matches!(cli.command, Cmd::TaskInference) {
        for &d in &devices {
            figures.extend(ccll_bench::task_inference::run(d, &opts));
        }
    }
    let report = BenchReport {
        machine: MachineInfo::detect(
            threads,
            torch,
            devices
                .iter()
                .map(|&d| ccll_core::device::device_name(d))
                .collect(),
            cli.quick,
        ),
        figures,
        written_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let stem = match cli.command {
        Cmd::All => "bench",
        Cmd::Throughput => "bench-throughput",
        Cmd::Overhead => "bench-overhead",
        Cmd::Epoch => "bench-epoch",
        Cmd::Scheduler => "bench-scheduler",
        Cmd::Store => "bench-store",
        Cmd::TaskInference => "bench-task-inference",
        Cmd::Check | Cmd::RunConfig { .. } | Cmd::Steps { .. } => {
            unreachable!("handled above")
        }
    };
    report.write(&cli.out, stem)?;
    println!("{}", report.to_markdown());
    println!("wrote {0}/{stem}.json and {0}/{stem}.md", cli.out.display());
    Ok(())
}
