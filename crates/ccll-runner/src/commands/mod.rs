//! One module per `ccll` subcommand.

pub mod data;
