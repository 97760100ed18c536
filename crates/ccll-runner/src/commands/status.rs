//! `ccll status [SWEEP]`: runs by state.

use ccll_report::Store;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// A sweep name (see `ccll status` for the list); all sweeps when omitted.
    pub sweep: Option<String>,
    /// Results database (default: $CCLL_DB, else results/ccll.sqlite).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

pub fn run(a: StatusArgs) -> anyhow::Result<()> {
    let path = Store::resolve_path(a.db.as_deref());
    super::runtime()?.block_on(async {
        let store = Store::open_existing(&path).await?;
        let text = ccll_runner::status::status_text(&store, a.sweep.as_deref()).await;
        store.close().await;
        print!("{}", text?);
        Ok(())
    })
}
