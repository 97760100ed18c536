//! The command line of `ccll-report`.

use ccll_report::{PlotKind, QueryFormat, RunStatus, TableFormat};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Charts, tables and queries over the ccll results database.
///
/// The database is results/ccll.sqlite unless --db or CCLL_DB says otherwise. Every command
/// here only reads it (an older database is upgraded in place first).
#[derive(Debug, Parser)]
#[command(name = "ccll-report", version, about, long_about)]
pub struct Cli {
    /// The results database [default: $CCLL_DB, else results/ccll.sqlite].
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Draw a chart as PNG and SVG
    ///
    /// Examples:
    ///   ccll-report plot param-growth --sweep variants
    ///   ccll-report plot acc-matrix --run 12
    ///   ccll-report plot ablation --sweep ablation_alpha --x alpha
    ///   ccll-report plot per-task --sweep variants
    ///   ccll-report plot curves --run 12
    #[command(verbatim_doc_comment)]
    Plot {
        kind: PlotKind,
        /// The sweep to draw (param-growth without it: the latest finished run of each method).
        #[arg(long)]
        sweep: Option<String>,
        /// The run to draw (acc-matrix, curves).
        #[arg(long)]
        run: Option<i64>,
        /// The ablation axis: a column (alpha, beta) or a dotted config key (method.alpha).
        #[arg(long)]
        x: Option<String>,
        /// Folder for the files.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Image width in pixels.
        #[arg(long, default_value_t = 1200)]
        width: u32,
        /// Image height in pixels.
        #[arg(long, default_value_t = 800)]
        height: u32,
        /// acc-matrix: the task-aware matrix (taw), the task-agnostic one of the run's primary
        /// rule (tag), or its task-id accuracy (task-id).
        #[arg(long, value_enum, default_value = "taw")]
        setting: ccll_report::Setting,
    },
    /// Summary table of a sweep: one row per configuration, mean ± std over seeds.
    Table {
        #[arg(long)]
        sweep: String,
        #[arg(long, value_enum, default_value = "md")]
        format: TableFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run SQL on a read-only connection (nothing can be changed).
    ///
    /// Example: ccll-report query "SELECT method, avg(acc) FROM runs GROUP BY method"
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "table")]
        format: QueryFormat,
        /// Seconds before the query is stopped.
        #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
        timeout: f64,
        /// Rows returned at most; more is an error (add a LIMIT).
        #[arg(long, default_value_t = 1_000_000)]
        max_rows: usize,
    },
    /// List runs with their status and final ACC.
    Runs {
        #[arg(long)]
        sweep: Option<String>,
        /// Only runs with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
    },
    /// Everything about one run: config, status, accuracy matrix, metrics, parameters.
    Show {
        run: i64,
        #[arg(long, value_enum, default_value = "text")]
        format: ShowFormat,
    },
    /// List sweeps with their run counts.
    Sweeps,
    /// Check the claims a sweep's study lists (the paper's findings) over its seeds
    ///
    /// Prints `holds`, `fails` or `inconclusive` for each, with the difference and its 95 %
    /// interval (paired by seed) or the rank correlation and its permutation p-value. Exit
    /// status 1 when any claim fails.
    ///
    /// Example: ccll-report check --sweep ablation_alpha
    #[command(verbatim_doc_comment)]
    Check {
        #[arg(long)]
        sweep: String,
        /// Print Markdown instead of plain lines.
        #[arg(long)]
        markdown: bool,
    },
    /// Every chart and the table of a sweep, into OUT/<sweep>/.
    Report {
        #[arg(long)]
        sweep: String,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Queued,
    Running,
    Finished,
    Failed,
    Interrupted,
}

impl From<StatusArg> for RunStatus {
    fn from(s: StatusArg) -> RunStatus {
        match s {
            StatusArg::Queued => RunStatus::Queued,
            StatusArg::Running => RunStatus::Running,
            StatusArg::Finished => RunStatus::Finished,
            StatusArg::Failed => RunStatus::Failed,
            StatusArg::Interrupted => RunStatus::Interrupted,
        }
    }
}

/// A time limit in seconds: a finite number above zero.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds above 0")),
    }
}
