//! One module per `ccll` subcommand, plus shared terminal output.

pub mod data;
pub mod eval;
pub mod params;
pub mod progress;
pub mod summary;
pub mod train;
