//! Everything worth drawing for one sweep, in one call: what the runner calls after a sweep.

use crate::html::{InlineChart, Page};
use crate::plots::{
    file_stem, write_chart, Ablation, AccMatrix, Curves, ParamGrowth, PerTask, TaskIdCurve,
};
use crate::table::{summarize, TableFormat};
use crate::{ReportError, Store, SweepData};
use std::path::{Path, PathBuf};

/// Writes every chart that applies to the sweep, its table as `table.md` and `table.csv`,
/// and `index.html` (one self-contained page with all of it, see [`crate::html`]) into
/// `<out_dir>/<sweep>/` (e.g. `reports/ablation_alpha/`). Returns the files written, tables
/// first, the page last.
///
/// Charts that do not apply are skipped, not failed: an ablation needs a numeric swept key
/// other than the seed, the other charts need at least one finished run. Drawn: param-growth,
/// per-task, one ablation per numeric swept key, the accuracy matrix of one finished run per
/// configuration group and the training curves of the first finished run that has curves.
pub async fn render_sweep_report(
    store: &Store,
    sweep: &str,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    render_sweep_report_sized(store, sweep, out_dir, crate::plots::DEFAULT_SIZE).await
}

/// [`render_sweep_report`] with a chosen image size.
pub async fn render_sweep_report_sized(
    store: &Store,
    sweep: &str,
    out_dir: &Path,
    size: (u32, u32),
) -> Result<Vec<PathBuf>, ReportError> {
    let data = SweepData::load(store, sweep).await?;
    let dir = out_dir.join(file_stem(sweep));
    std::fs::create_dir_all(&dir).map_err(|e| ReportError::io(&dir, e))?;
    let mut written = Vec::new();

    let table = summarize(&data);
    for (name, format) in [
        ("table.md", TableFormat::Md),
        ("table.csv", TableFormat::Csv),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, table.render(format)).map_err(|e| ReportError::io(&path, e))?;
        written.push(path);
    }

    let verdicts = crate::claims::check_sweep(store, sweep).await?;
    if !verdicts.is_empty() {
        let path = dir.join("claims.md");
        std::fs::write(&path, crate::claims::to_markdown(&verdicts))
            .map_err(|e| ReportError::io(&path, e))?;
        written.push(path);
    }

    let mut inline = Vec::new();
    let mut charts = Charts {
        dir: &dir,
        size,
        written: &mut written,
        inline: &mut inline,
    };
    charts.add("param-growth", ParamGrowth::for_sweep(&data))?;
    charts.add("per-task", PerTask::build(&data))?;
    // Only sweeps whose runs recorded task-agnostic results (NoData skips it otherwise).
    charts.add("task-id", TaskIdCurve::build(&data))?;
    for key in data.numeric_swept_keys() {
        charts.add(&format!("ablation-{key}"), Ablation::build(&data, &key))?;
    }
    for group in data.groups() {
        if let Some(&id) = group
            .run_ids
            .iter()
            .find(|id| data.results.contains_key(id))
        {
            charts.add(
                &format!("acc-matrix-run{id}"),
                AccMatrix::load(store, id).await,
            )?;
        }
    }
    if let Some((row, _)) = data.finished().find(|(_, r)| !r.curves.is_empty()) {
        charts.add(
            &format!("curves-run{}", row.id),
            Curves::load(store, row.id).await,
        )?;
    }

    let page = Page {
        sweep: &store.sweep(sweep).await?,
        data: &data,
        table: &table,
        verdicts: &verdicts,
        charts: &inline,
    };
    let path = dir.join("index.html");
    std::fs::write(&path, page.render()).map_err(|e| ReportError::io(&path, e))?;
    written.push(path);
    Ok(written)
}

struct Charts<'a> {
    dir: &'a Path,
    size: (u32, u32),
    written: &'a mut Vec<PathBuf>,
    /// The SVG of every chart drawn, for the page.
    inline: &'a mut Vec<InlineChart>,
}

impl Charts<'_> {
    /// Draws a chart that could be built; skips one that does not apply (no data).
    fn add<C: crate::plots::Chart>(
        &mut self,
        name: &str,
        chart: Result<C, ReportError>,
    ) -> Result<(), ReportError> {
        match chart {
            Ok(c) => {
                let files = write_chart(&c, self.dir, name, self.size)?;
                if let Some(svg) = files
                    .iter()
                    .find(|p| p.extension().is_some_and(|e| e == "svg"))
                {
                    let text = std::fs::read_to_string(svg).map_err(|e| ReportError::io(svg, e))?;
                    self.inline.push(InlineChart {
                        name: file_stem(name),
                        svg: text,
                    });
                }
                self.written.extend(files);
                Ok(())
            }
            Err(ReportError::NoData(why) | ReportError::UnknownKey { key: why, .. }) => {
                tracing::info!("skipping {name}: {why}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
