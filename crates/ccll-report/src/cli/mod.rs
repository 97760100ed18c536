//! The `ccll-report` commands.

pub mod args;
mod list;
mod show;
mod text;

use anyhow::Context as _;
use args::{Cli, Command, ShowFormat};
use ccll_report::{plot, render_sweep_report, run_query_within, PlotRequest, QueryLimits, Store};
use std::io::Write as _;

/// Failures that are the SQL's fault, reported with SQLite's own words and exit code 2.
#[derive(Debug)]
pub struct SqlError(pub String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = Store::resolve_path(cli.db.as_deref());
    match cli.command {
        Command::Query {
            sql,
            format,
            timeout,
            max_rows,
        } => {
            let store = Store::open_read_only(&db).await?;
            let limits = QueryLimits {
                timeout: std::time::Duration::from_secs_f64(timeout),
                max_rows,
            };
            let out = run_query_within(&store, &sql, limits).await.map_err(|e| {
                match e.sqlite_message() {
                    Some(m) => anyhow::Error::new(SqlError(m.to_string())),
                    None => e.into(),
                }
            })?;
            print(&out.render(format))
        }
        Command::Plot {
            kind,
            sweep,
            run,
            x,
            out,
            width,
            height,
            setting,
        } => {
            let store = Store::open_existing(&db).await?;
            let req = PlotRequest {
                kind,
                sweep,
                run,
                x,
                out_dir: out,
                size: (width, height),
                setting,
            };
            let files = plot(&store, &req).await?;
            print(
                &files
                    .iter()
                    .map(|f| format!("{}\n", f.display()))
                    .collect::<String>(),
            )
        }
        Command::Table { sweep, format, out } => {
            let store = Store::open_existing(&db).await?;
            let text = ccll_report::sweep_table(&store, &sweep)
                .await?
                .render(format);
            match out {
                Some(path) => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    print(&format!("{}\n", path.display()))
                }
                None => print(&text),
            }
        }
        Command::Runs { sweep, status } => {
            let store = Store::open_existing(&db).await?;
            print(&list::runs(&store, sweep.as_deref(), status.map(Into::into)).await?)
        }
        Command::Check { sweep, markdown } => {
            let store = Store::open_existing(&db).await?;
            let verdicts = ccll_report::claims::check_sweep(&store, &sweep).await?;
            if verdicts.is_empty() {
                return print(&format!(
                    "sweep `{sweep}`: its study lists no claims (add `claims:` to the study file)\n"
                ));
            }
            print(&if markdown {
                ccll_report::claims::to_markdown(&verdicts)
            } else {
                ccll_report::claims::to_text(&verdicts)
            })?;
            let failed = verdicts
                .iter()
                .filter(|v| v.status == ccll_report::claims::Status::Fails)
                .count();
            if failed > 0 {
                anyhow::bail!("{failed} of {} claims fail", verdicts.len());
            }
            Ok(())
        }
        Command::Sweeps => {
            let store = Store::open_existing(&db).await?;
            print(&list::sweeps(&store).await?)
        }
        Command::Show { run, format } => {
            let store = Store::open_existing(&db).await?;
            let text = match format {
                ShowFormat::Text => show::show_text(&store, run).await?,
                ShowFormat::Json => show::show_json(&store, run).await?,
            };
            print(&text)
        }
        Command::Report { sweep, out } => {
            let store = Store::open_existing(&db).await?;
            let files = render_sweep_report(&store, &sweep, &out).await?;
            print(
                &files
                    .iter()
                    .map(|f| format!("{}\n", f.display()))
                    .collect::<String>(),
            )
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}
