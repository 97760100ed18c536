//! Models and learning for CCLL: backbones, calibration modules, strategies (CCLL, its
//! variants and the baselines), the training and evaluation loop, parameter and FLOP
//! accounting, and safetensors checkpoints.

pub mod accounting;
pub mod allocator;
pub mod base_spec;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod epoch_state;
pub mod error;
pub mod generator_state;
pub mod image_grid;
pub mod nn;
pub mod optim;
pub mod run;
pub mod settings;
pub mod strategy;
pub mod task_inference;
pub mod train;
pub mod yaml_locate;

pub use config::{BaseConfig, BaseSource, ConfigError, KeyError, RunConfig};
pub use device::Placement;
pub use run::{run, RunOptions};
