//! Fills a results database with a fabricated sweep (made-up numbers, no training), to try
//! `ccll-report` without running anything:
//!
//! ```text
//! cargo run -p ccll-report --example demo_store -- /tmp/demo.sqlite
//! ccll-report --db /tmp/demo.sqlite report --sweep demo
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use ccll_report::Store;
use std::path::PathBuf;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("results/demo.sqlite"));
    let store = Store::open(&path).await?;
    let ids = common::fill_sweep(
        &store,
        "demo",
        &["ccll", "pnn", "separate", "finetune"],
        &[1, 2, 4, 8],
        &[1, 2, 3],
    )
    .await;
    store.close().await;
    println!(
        "{}: sweep 'demo' with {} fabricated runs",
        path.display(),
        ids.len()
    );
    Ok(())
}
