//! The results store of ccll and the reports drawn from it.
//!
//! Every number a run produces lands in one SQLite file (default `results/ccll.sqlite`,
//! `--db` or `CCLL_DB` to change it) that researchers can query with `sqlite3`, pandas or
//! `ccll-report query`. The runner writes it through [`Store`] (and nothing else does); the
//! `ccll-report` binary reads it to draw charts ([`plots`]), print tables ([`table`]) and run
//! read-only SQL ([`query`]). The schema lives in the workspace's `migrations/` folder and is
//! applied automatically when a store is opened.

pub mod store;

pub use store::{
    BaseCheckpoint, NewBase, NewRun, NewSweep, RunRow, RunStatus, Store, StoreError, SweepRow,
};
