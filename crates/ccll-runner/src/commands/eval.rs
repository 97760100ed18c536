//! `ccll eval --run DIR`: evaluates a finished run from its checkpoints and compares with the
//! accuracies it recorded.

use ccll_core::run::{reevaluate, reevaluate_task_agnostic, RESULT_FILE};
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
    /// Also evaluate without the task id: every task-inference rule's TAg and task-id
    /// accuracy after the last task, compared with the recorded ones where the run has them.
    #[arg(long)]
    pub task_agnostic: bool,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let result_file = a.run.join(RESULT_FILE);
    let text = std::fs::read_to_string(&result_file).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (is {} a finished run's folder?)",
            result_file.display(),
            a.run.display()
        )
    })?;
    let stored: RunResult = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a run result: {e}", result_file.display()))?;
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
    if a.task_agnostic {
        task_agnostic(&a, &stored)?;
    }
    Ok(())
}

/// Prints every rule's TAg and task-id accuracy per task after the last task, and checks them
/// against the recorded ones when the run has them.
fn task_agnostic(a: &EvalArgs, stored: &RunResult) -> anyhow::Result<()> {
    let evals = reevaluate_task_agnostic(&a.run, a.data_root.as_deref(), &a.placement.placement())?;
    let last = stored.acc_matrix.rows() - 1;
    let recorded = stored.task_agnostic.as_ref();
    println!(
        "\nwithout the task id (TAg accuracy / task-id accuracy, percent, after the last task):"
    );
    let mut same = true;
    for rule in evals.first().map(|e| &e.rules[..]).unwrap_or_default() {
        let name = rule.rule.name();
        let primary = recorded.is_some_and(|t| t.primary == name);
        let mut cells = Vec::new();
        for (j, e) in evals.iter().enumerate() {
            let r = e
                .rules
                .iter()
                .find(|r| r.rule == rule.rule)
                .expect("every task has every rule");
            let (acc, id) = (r.accuracy(j, e), r.task_id_accuracy(j));
            if let Some(rec) = recorded.and_then(|t| t.rules.iter().find(|x| x.rule == name)) {
                same &= rec.acc_matrix.get(last, j) == Some(acc)
                    && rec.task_id_matrix.get(last, j) == Some(id);
            }
            cells.push(format!("{acc:.2}/{id:.2}"));
        }
        println!(
            "  {name:<22}{} {}",
            if primary { "*" } else { " " },
            cells.join("  ")
        );
    }
    match recorded {
        None => {
            println!("(the run recorded no task-agnostic results: written before they existed)")
        }
        Some(_) => {
            anyhow::ensure!(
                same,
                "reloaded TAg accuracies differ from the recorded ones"
            );
            println!("(* the run's primary rule) reloaded checkpoints reproduce the recorded TAg accuracies exactly");
        }
    }
    Ok(())
}
