//! `ccll train --config RUN.yaml --out DIR`: one lifelong run with a progress bar.

use super::progress::RunProgress;
use ccll_core::run::{run, RunOptions, RESULT_FILE};
use ccll_core::RunConfig;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The run config (YAML).
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory: checkpoints, config.yaml, result.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Data root (default: $CCLL_DATA, else ./data).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Start from a finished shared base job's directory instead of training the base.
    #[arg(long)]
    pub base_dir: Option<PathBuf>,
}

pub fn run_cmd(args: TrainArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::from_file(&args.config)?;
    let opts = RunOptions {
        data_root: args.data_root,
        out_dir: args.out.clone(),
        base_dir: args.base_dir,
    };
    let mut progress = RunProgress::new(&format!("{} on {}", cfg.method.name, cfg.benchmark.name));
    let result = run(&cfg, &opts, &mut |e| progress.event(&e));
    progress.finish();
    let result = result?;
    println!("{}", super::summary::matrix_table(&result));
    println!(
        "ACC {:.2}  BWT {:.2}  forgetting {:.2}   ({:.1} s on {})",
        result.metrics.acc,
        result.metrics.bwt,
        result.metrics.forgetting,
        result.wall_seconds,
        result.device
    );
    println!("wrote {}", args.out.join(RESULT_FILE).display());
    Ok(())
}
