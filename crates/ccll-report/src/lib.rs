//! The results store of ccll and the reports drawn from it.
//!
//! Every number a run produces lands in one SQLite file (default `results/ccll.sqlite`,
//! `--db` or `CCLL_DB` to change it) that researchers can query with `sqlite3`, pandas or
//! `ccll-report query`. The runner writes it through [`Store`] (and nothing else does); the
//! `ccll-report` binary reads it to draw charts ([`plots`]), print tables ([`table`]) and run
//! read-only SQL ([`query`]). The schema lives in the workspace's `migrations/` folder and is
//! applied automatically when a store is opened read-write.
//!
//! After a sweep, [`render_sweep_report`] writes all of its charts and its table at once.

pub mod claims;
mod error;
pub mod html;
pub mod plots;
pub mod query;
mod report;
pub mod stats;
pub mod store;
pub mod sweep;
pub mod table;

pub use error::ReportError;
pub use plots::{plot, PlotKind, PlotRequest, Setting};
pub use query::{run_query, run_query_within, QueryFormat, QueryLimits, QueryOutput};
pub use report::{render_sweep_report, render_sweep_report_sized};
pub use store::{
    BaseCheckpoint, NewBase, NewRun, NewSweep, RunRow, RunStatus, Store, StoreError, SweepRow,
};
pub use sweep::SweepData;
pub use table::{summarize, sweep_table, RunFigures, SummaryTable, TableFormat};
