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

/// `--device` and `--threads` of the commands that train or evaluate in this process.
#[derive(clap::Args)]
pub struct PlacementArgs {
    /// Device: auto (the first CUDA device if libtorch sees one, else the CPU), cpu or cuda:N.
    #[arg(long, default_value = "auto", value_parser = parse_device_flag)]
    pub device: String,
    /// libtorch CPU threads (0 keeps libtorch's default).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub threads: u16,
}

impl PlacementArgs {
    pub fn placement(&self) -> ccll_core::Placement {
        ccll_core::Placement {
            device: self.device.clone(),
            threads: self.threads.into(),
        }
    }
}

fn parse_device_flag(s: &str) -> Result<String, String> {
    ccll_core::device::parse_device(s).map(|_| s.to_string())
}

/// A current-thread tokio runtime: the runner is I/O-bound, and spawning workers from one
/// long-lived thread keeps their parent-death signal tied to the runner's life.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
