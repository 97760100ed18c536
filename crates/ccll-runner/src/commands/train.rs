//! `ccll train --config RUN.yaml --out DIR`: one lifelong run with a progress bar, recorded in
//! the results store as a run without a sweep (unless `--no-store`).

use super::progress::RunProgress;
use ccll_core::run::{run, RunOptions, RESULT_FILE};
use ccll_core::RunConfig;
use ccll_report::Store;
use ccll_runner::rows::new_run_row;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The run config (YAML).
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory: checkpoints, config.yaml, result.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Data root (default: $CCLL_DATA, else ./data).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Start from a finished shared base job's directory instead of training the base.
    #[arg(long)]
    pub base_dir: Option<PathBuf>,
    /// Results database (default: $CCLL_DB, else results/ccll.sqlite).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Do not record the run in the results store.
    #[arg(long)]
    pub no_store: bool,
    /// Name of the run in the store (default: the output directory's name).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub placement: super::PlacementArgs,
}

pub fn run_cmd(args: TrainArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::from_file(&args.config)?;
    let placement = args.placement.placement();
    let recorder = if args.no_store {
        None
    } else {
        let label = args.name.clone().unwrap_or_else(|| {
            args.out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| cfg.method.name().to_string())
        });
        Some(Recorder::start(
            &cfg,
            &label,
            &placement,
            &args.out,
            args.db.as_deref(),
        )?)
    };
    let opts = RunOptions {
        data_root: args.data_root,
        out_dir: args.out.clone(),
        base_dir: args.base_dir,
        placement,
    };
    let mut progress =
        RunProgress::new(&format!("{} on {}", cfg.method.name(), cfg.benchmark.name));
    let result = run(&cfg, &opts, &mut |e| progress.event(&e));
    progress.finish();
    if let Some(r) = &recorder {
        r.finish(&result)?;
    }
    let result = result?;
    println!("{}", super::summary::matrix_table(&result));
    println!(
        "ACC {:.2}  BWT {:.2}  forgetting {:.2}   ({:.1} s on {})",
        result.metrics.acc,
        result.metrics.bwt,
        result.metrics.forgetting,
        result.wall_seconds,
        result.device
    );
    println!("wrote {}", args.out.join(RESULT_FILE).display());
    if let Some(r) = &recorder {
        println!(
            "recorded as run {} in {}",
            r.run_id,
            r.store.path().display()
        );
    }
    Ok(())
}

/// The store side of a single run: registered and marked running before training, finished
/// or failed after.
struct Recorder {
    rt: tokio::runtime::Runtime,
    store: Store,
    run_id: i64,
}

impl Recorder {
    fn start(
        cfg: &RunConfig,
        label: &str,
        placement: &ccll_core::Placement,
        out: &std::path::Path,
        db: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let rt = super::runtime()?;
        let path = Store::resolve_path(db);
        let (commit, dirty) = ccll_runner::git::describe();
        let id = ccll_runner::identity::identity(cfg);
        let row = ccll_report::NewRun {
            run_dir: Some(ccll_runner::layout::absolute(out).display().to_string()),
            ..new_run_row(cfg, &id, label, serde_json::json!({}), None, commit, dirty)
        };
        let (store, run_id) = rt.block_on(async {
            let store = Store::open(&path).await?;
            let id = store.register_run(&row).await?;
            store
                .mark_running(id, &placement.device, &ccll_runner::git::hostname())
                .await?;
            anyhow::Ok((store, id))
        })?;
        Ok(Self { rt, store, run_id })
    }

    fn finish(&self, result: &anyhow::Result<ccll_results::RunResult>) -> anyhow::Result<()> {
        self.rt.block_on(async {
            match result {
                Ok(r) => self.store.record_finished(self.run_id, r).await?,
                Err(e) => {
                    self.store
                        .record_failed(self.run_id, &ccll_results::error_text(e.as_ref()), "")
                        .await?
                }
            }
            self.store.close().await;
            anyhow::Ok(())
        })
    }
}
