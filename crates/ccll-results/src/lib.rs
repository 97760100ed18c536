//! The plain data that one lifelong-learning run produces, shared by the trainer (`ccll-core`),
//! the runner (`ccll`) and the results store (`ccll-report`). No tensors here: every type is
//! serde data that a test can build by hand (and `error_text`, how every binary prints an
//! error).
//!
//! Accuracies are percentages (0-100); BWT and forgetting are in percentage points.

mod error_text;
mod events;
pub mod labels;
mod matrix;
mod metrics;
mod params;
mod run;

pub use error_text::error_text;
pub use events::WorkerEvent;
pub use matrix::{MatrixError, TaskMatrix};
pub use metrics::Metrics;
pub use params::{Flops, ParamReport, TaskParams};
pub use run::{Artifact, EpochRecord, RuleResult, RunResult, TaskAgnostic, TaskInfo};
