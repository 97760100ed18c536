//! One module per `ccll` subcommand, plus shared terminal output. The sweep machinery lives in
//! the `ccll_runner` library; these files parse arguments and print.

pub mod data;
pub mod eval;
pub mod params;
pub mod progress;
pub mod status;
pub mod summary;
pub mod sweep;
pub mod train;
pub mod worker;

/// A current-thread tokio runtime: the runner is I/O-bound, and spawning workers from one
/// long-lived thread keeps their parent-death signal tied to the runner's life.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
