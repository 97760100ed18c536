//! `ccll-report plot KIND`: charts for papers, each written as PNG and SVG.
//!
//! One file per chart kind; each builds a plain data struct from the store and draws it on
//! any plotters backend, so the PNG and the SVG are the same drawing.

mod ablation;
mod acc_matrix;
mod axis;
mod curves;
pub mod fonts;
mod param_growth;
mod per_task;
mod task_id;

pub use ablation::Ablation;
pub use acc_matrix::AccMatrix;
pub use curves::Curves;
pub use param_growth::ParamGrowth;
pub use per_task::PerTask;
pub use task_id::TaskIdCurve;

use crate::{ReportError, Store};
pub(crate) use axis::{integer_points, padded, Ticked};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Default image size: wide enough for a two-column figure, text readable when scaled down.
pub const DEFAULT_SIZE: (u32, u32) = (1200, 800);

/// The chart kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotKind {
    /// Cumulative parameters over tasks, one line per method, growth % per task.
    ParamGrowth,
    /// Heatmap of one run's accuracy matrix with the values in the cells.
    AccMatrix,
    /// Final ACC against a swept value, mean and std over seeds, one line per variant.
    Ablation,
    /// Final accuracy of each task, grouped bars per method.
    PerTask,
    /// Training loss and accuracy per epoch across the tasks of one run.
    Curves,
    /// Task-id accuracy (primary task-inference rule) against the number of tasks learned,
    /// one line per method, mean and std over seeds.
    TaskId,
}

/// What to draw and where.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotRequest {
    pub kind: PlotKind,
    pub sweep: Option<String>,
    pub run: Option<i64>,
    /// Ablation axis: a column (`alpha`, `beta`) or a dotted config key.
    pub x: Option<String>,
    pub out_dir: PathBuf,
    pub size: (u32, u32),
    /// Which matrix `acc-matrix` draws.
    pub setting: Setting,
}

/// The matrix of a run that `acc-matrix` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Setting {
    /// Task-aware accuracy (the task id given).
    #[default]
    Taw,
    /// Task-agnostic accuracy of the run's primary task-inference rule.
    Tag,
    /// Task-id accuracy of the primary rule (share of images whose task it inferred right).
    TaskId,
}

pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws the series' legend at `position`, boxed and styled alike in every chart.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Style,
    position: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .legend_area_size(s.legend_key() + s.margin())
        .position(position)
        .label_font(s.legend())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .margin(s.margin())
        .draw()
}

/// A chart that can draw itself on any backend.
pub trait Chart {
    /// Draws the whole chart on `root` (already filled white).
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        style: &Style,
    ) -> DrawResult<DB>;
}

/// Font sizes and line widths scaled to the image, so a chart reads the same at any size.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub scale: f64,
}

impl Style {
    pub fn for_size((w, h): (u32, u32)) -> Style {
        Style {
            scale: (f64::from(w) / 1200.0).min(f64::from(h) / 800.0).max(0.25),
        }
    }
    fn px(&self, v: f64) -> f64 {
        (v * self.scale).max(6.0)
    }
    pub fn title(&self) -> TextStyle<'static> {
        ("sans-serif", self.px(34.0), FontStyle::Bold)
            .into_font()
            .into()
    }
    pub fn axis_desc(&self) -> TextStyle<'static> {
        ("sans-serif", self.px(28.0)).into_font().into()
    }
    pub fn ticks(&self) -> TextStyle<'static> {
        ("sans-serif", self.px(23.0)).into_font().into()
    }
    pub fn legend(&self) -> TextStyle<'static> {
        ("sans-serif", self.px(23.0)).into_font().into()
    }
    pub fn annotation(&self) -> TextStyle<'static> {
        ("sans-serif", self.px(19.0)).into_font().into()
    }
    pub fn font_px(&self, v: f64) -> f64 {
        self.px(v)
    }
    pub fn line(&self) -> u32 {
        (3.0 * self.scale).round().max(1.0) as u32
    }
    pub fn marker(&self) -> i32 {
        (6.0 * self.scale).round().max(2.0) as i32
    }
    pub fn margin(&self) -> u32 {
        (20.0 * self.scale).round() as u32
    }
    /// Width of the line or box that stands for a series in a legend.
    pub fn legend_key(&self) -> u32 {
        (34.0 * self.scale).round().max(10.0) as u32
    }
    pub fn label_area(&self) -> u32 {
        (90.0 * self.scale).round() as u32
    }
}

/// Okabe-Ito colours (readable by colour-blind readers), then more for large sweeps.
const PALETTE: [RGBColor; 16] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
    RGBColor(127, 127, 127),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A legend entry drawn beside the chart rather than over it.
pub(crate) struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
}

/// Width a side legend needs for `entries`.
pub(crate) fn side_legend_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    s: &Style,
) -> u32 {
    let text = entries
        .iter()
        .filter_map(|e| area.estimate_text_size(&e.label, &s.legend()).ok())
        .map(|(w, _)| w)
        .max()
        .unwrap_or(0);
    text + s.legend_key() + 3 * s.margin()
}

/// A column of coloured boxes and labels, from the top of `area`.
pub(crate) fn draw_side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    s: &Style,
) -> DrawResult<DB> {
    let line_h = (s.font_px(23.0) * 1.5) as i32;
    let key = s.legend_key() as i32;
    let x0 = s.margin() as i32 / 2;
    for (i, e) in entries.iter().enumerate() {
        let y = (s.margin() as i32) * 3 + i as i32 * line_h;
        area.draw(&Rectangle::new(
            [(x0, y - key / 3), (x0 + key, y + key / 3)],
            e.color.filled(),
        ))?;
        let style = s.legend().pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            e.label.clone(),
            (x0 + key + s.margin() as i32 / 2, y),
            style,
        ))?;
    }
    Ok(())
}

/// Tick labels with as many decimals as the axis span calls for.
pub(crate) fn tick_label(v: f64, span: f64) -> String {
    let span = span.abs();
    if span >= 20.0 {
        format!("{v:.0}")
    } else if span >= 2.0 {
        format!("{v:.1}")
    } else if span >= 0.2 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Writes `chart` as `<dir>/<name>.png` and `<dir>/<name>.svg`; returns both paths.
pub fn write_chart<C: Chart>(
    chart: &C,
    dir: &Path,
    name: &str,
    size: (u32, u32),
) -> Result<Vec<PathBuf>, ReportError> {
    fonts::ensure_fonts()?;
    if size.0 < 200 || size.1 < 150 || size.0 > 20_000 || size.1 > 20_000 {
        return Err(ReportError::NoData(format!(
            "image size {}x{} is out of range (200x150 to 20000x20000 px)",
            size.0, size.1
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let style = Style::for_size(size);
    let stem = file_stem(name);
    let draw_error = |reason: String| ReportError::Draw {
        chart: stem.clone(),
        reason,
    };
    let png = dir.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
        chart
            .draw(&root, &style)
            .map_err(|e| draw_error(e.to_string()))?;
        root.present().map_err(|e| draw_error(e.to_string()))?;
    }
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
        chart
            .draw(&root, &style)
            .map_err(|e| draw_error(e.to_string()))?;
        root.present().map_err(|e| draw_error(e.to_string()))?;
    }
    Ok(vec![png, svg])
}

/// A file name from free text: letters, digits, `-`, `_`, `.`; anything else becomes `_`.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "chart".to_string()
    } else {
        s
    }
}

/// Draws one chart as asked; returns the files written.
pub async fn plot(store: &Store, req: &PlotRequest) -> Result<Vec<PathBuf>, ReportError> {
    let need_sweep = |what: &str| {
        req.sweep.clone().ok_or_else(|| {
            ReportError::NoData(format!(
                "{what} needs --sweep NAME (list them with `ccll-report sweeps`)"
            ))
        })
    };
    let need_run = |what: &str| {
        req.run.ok_or_else(|| {
            ReportError::NoData(format!(
                "{what} needs --run ID (list them with `ccll-report runs`)"
            ))
        })
    };
    let dir = &req.out_dir;
    match req.kind {
        PlotKind::ParamGrowth => {
            let chart = match &req.sweep {
                Some(s) => ParamGrowth::for_sweep(&crate::SweepData::load(store, s).await?)?,
                None => ParamGrowth::latest_per_method(store).await?,
            };
            let name = match &req.sweep {
                Some(s) => format!("param-growth-{s}"),
                None => "param-growth".to_string(),
            };
            write_chart(&chart, dir, &name, req.size)
        }
        PlotKind::AccMatrix => {
            let run = need_run("acc-matrix")?;
            let chart = AccMatrix::load_setting(store, run, req.setting).await?;
            let suffix = match req.setting {
                Setting::Taw => "",
                Setting::Tag => "-tag",
                Setting::TaskId => "-task-id",
            };
            write_chart(
                &chart,
                dir,
                &format!("acc-matrix-run{run}{suffix}"),
                req.size,
            )
        }
        PlotKind::Ablation => {
            let sweep = need_sweep("ablation")?;
            let x = req.x.clone().ok_or_else(|| {
                ReportError::NoData(
                    "ablation needs --x KEY (a column such as alpha or beta, or a dotted \
                     config key such as method.alpha)"
                        .to_string(),
                )
            })?;
            let data = crate::SweepData::load(store, &sweep).await?;
            let chart = Ablation::build(&data, &x)?;
            write_chart(&chart, dir, &format!("ablation-{sweep}-{x}"), req.size)
        }
        PlotKind::PerTask => {
            let sweep = need_sweep("per-task")?;
            let chart = PerTask::build(&crate::SweepData::load(store, &sweep).await?)?;
            write_chart(&chart, dir, &format!("per-task-{sweep}"), req.size)
        }
        PlotKind::Curves => {
            let run = need_run("curves")?;
            let chart = Curves::load(store, run).await?;
            write_chart(&chart, dir, &format!("curves-run{run}"), req.size)
        }
        PlotKind::TaskId => {
            let sweep = need_sweep("task-id")?;
            let chart = TaskIdCurve::build(&crate::SweepData::load(store, &sweep).await?)?;
            write_chart(&chart, dir, &format!("task-id-{sweep}"), req.size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(
            file_stem("ablation-my sweep/x-method.alpha"),
            "ablation-my_sweep_x-method.alpha"
        );
        assert_eq!(file_stem("../etc"), "_etc");
        assert_eq!(file_stem(""), "chart");
    }
}
