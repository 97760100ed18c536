//! `ccll eval --run DIR`: evaluates a finished run from its checkpoints and compares with the
//! accuracies it recorded.

use ccll_core::run::{reevaluate, RESULT_FILE};
use ccll_results::RunResult;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A run directory written by `ccll train` (config.yaml, result.json, checkpoints).
    #[arg(long)]
    pub run: PathBuf,
    /// Data root (default: $CCLL_DATA, else ./data).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let stored: RunResult =
        serde_json::from_str(&std::fs::read_to_string(a.run.join(RESULT_FILE))?)?;
    let again = reevaluate(&a.run, a.data_root.as_deref(), &a.placement.placement())?;
    let last = stored.acc_matrix.rows() - 1;
    let mut same = true;
    println!("{:>5} {:>10} {:>10}", "task", "stored", "reloaded");
    for (j, (acc, _)) in again.iter().enumerate() {
        let s = stored.acc_matrix.get(last, j).unwrap_or(f64::NAN);
        same &= s == *acc;
        println!("{:>5} {:>10.4} {:>10.4}", j + 1, s, acc);
    }
    anyhow::ensure!(same, "reloaded accuracies differ from the stored ones");
    println!("reloaded checkpoints reproduce the stored accuracies exactly");
    Ok(())
}
