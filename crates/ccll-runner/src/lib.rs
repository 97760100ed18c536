//! The machinery behind the `ccll` binary's sweeps: a study file (`experiments/*.yaml`) is
//! parsed and validated ([`study`]), expanded into runs ([`grid`]) with a content identity
//! ([`identity`]), turned into a graph of shared base-pretraining jobs and run jobs
//! ([`plan`]), reconciled with what the store and the run directories already hold
//! ([`resume`]), and executed by worker processes ([`worker`]) on local device slots or as
//! Slurm array tasks ([`executor`]) while [`scheduler`] records every outcome in the results
//! store and [`progress`] shows where things stand.
//!
//! Only the runner process writes the store; workers write files (`events.jsonl`,
//! `worker.log`, `result.json`, checkpoints) that the runner reads back, which works the same
//! for local processes and for Slurm jobs on other nodes.

pub mod dry_run;
pub mod executor;
pub mod git;
pub mod grid;
pub mod identity;
pub mod job;
pub mod layout;
pub mod lock;
pub mod outcome;
pub mod plan;
pub mod preflight;
pub mod progress;
pub mod resume;
pub mod rows;
pub mod scheduler;
pub mod signals;
pub mod status;
pub mod study;
pub mod sweep;
pub mod text;
pub mod worker;
