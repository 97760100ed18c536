//! `ccll data ...` (placeholder until the data loaders land).

use clap::Subcommand;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Describe a benchmark.
    Info { benchmark: String },
}

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Info { benchmark } => anyhow::bail!("`ccll data info {benchmark}`: not yet"),
    }
}
