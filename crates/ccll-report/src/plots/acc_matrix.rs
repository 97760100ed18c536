//! Heatmap of one run's accuracy matrix: row i is the evaluation after training task i,
//! column j the task evaluated; each cell shows its accuracy. Colours span the matrix's own
//! range (shown on the colour bar) so that small differences stay visible.

use super::{Chart, DrawResult, Setting, Style, Ticked};
use crate::{ReportError, Store};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

#[derive(Debug, Clone, PartialEq)]
pub struct AccMatrix {
    pub title: String,
    /// Rows after each finished task; `None` above the diagonal.
    pub rows: Vec<Vec<Option<f64>>>,
    /// Number of tasks (columns).
    pub tasks: usize,
}

impl AccMatrix {
    /// The task-aware accuracy matrix of a run.
    pub async fn load(store: &Store, run_id: i64) -> Result<AccMatrix, ReportError> {
        Self::load_setting(store, run_id, Setting::Taw).await
    }

    /// The matrix of `setting` of a run.
    pub async fn load_setting(
        store: &Store,
        run_id: i64,
        setting: Setting,
    ) -> Result<AccMatrix, ReportError> {
        let row = store.run(run_id).await?;
        let result = store.run_result(run_id).await?;
        let (what, matrix) = match setting {
            Setting::Taw => ("Accuracy matrix (%)".to_string(), result.acc_matrix),
            Setting::Tag | Setting::TaskId => {
                let tag = result.task_agnostic.as_ref();
                let primary = tag.and_then(|t| t.primary_result()).ok_or_else(|| {
                    ReportError::NoData(format!(
                        "run {run_id} has no task-agnostic results (recorded before they \
                         existed; `ccll eval --run DIR --task-agnostic` computes them)"
                    ))
                })?;
                if setting == Setting::Tag {
                    (
                        format!("TAg accuracy (%, {})", primary.rule),
                        primary.acc_matrix.clone(),
                    )
                } else {
                    (
                        format!("Task-id accuracy (%, {})", primary.rule),
                        primary.task_id_matrix.clone(),
                    )
                }
            }
        };
        let rows = matrix.0;
        let tasks = rows.first().map_or(0, Vec::len);
        if rows.is_empty() || tasks == 0 {
            return Err(ReportError::NoData(format!(
                "run {run_id} has an empty accuracy matrix"
            )));
        }
        Ok(AccMatrix {
            title: format!("{what} — run {run_id}: {}", row.name),
            rows,
            tasks,
        })
    }

    fn range(&self) -> (f64, f64) {
        let values = self
            .rows
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if !lo.is_finite() {
            (0.0, 100.0)
        } else if hi - lo < 1e-9 {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        }
    }
}

/// Viridis, by linear interpolation between five of its stops.
pub(crate) fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn text_color(c: RGBColor) -> RGBColor {
    let lum = 0.299 * f64::from(c.0) + 0.587 * f64::from(c.1) + 0.114 * f64::from(c.2);
    if lum > 140.0 {
        BLACK
    } else {
        WHITE
    }
}

impl Chart for AccMatrix {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: &Style) -> DrawResult<DB> {
        let n = self.tasks;
        let nf = n as f64;
        let (lo, hi) = self.range();
        let (w, _) = root.dim_in_pixel();
        let bar_w = (170.0 * s.scale) as u32;
        let (main, bar) = root.split_horizontally(w.saturating_sub(bar_w));
        let centers: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, s.title())
            .margin(s.margin())
            .x_label_area_size(s.label_area())
            .y_label_area_size(s.label_area())
            .build_cartesian_2d(
                Ticked::new(0.0..nf, centers.clone()),
                Ticked::new(0.0..nf, centers),
            )?;
        // Row i (after task i+1) is drawn from the top: y = n - i - 1 .. n - i.
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n + 1)
            .y_labels(n + 1)
            .x_label_formatter(&|v| format!("{}", v.floor() as i64 + 1))
            .y_label_formatter(&move |v| format!("{}", n as i64 - v.floor() as i64))
            .x_desc("evaluated task")
            .y_desc("after training task")
            .axis_desc_style(s.axis_desc())
            .label_style(s.ticks())
            .draw()?;

        // Cell text shrinks with the cell so that ten tasks still fit.
        let plot_w = chart.plotting_area().dim_in_pixel().0 as f64;
        let cell_font = (plot_w / nf / 3.6).min(s.font_px(26.0)).max(7.0);
        for (i, row) in self.rows.iter().enumerate() {
            for j in 0..n {
                let (x0, y0) = (j as f64, nf - i as f64 - 1.0);
                let value = row.get(j).copied().flatten();
                let fill = match value {
                    Some(v) if v.is_finite() => viridis((v - lo) / (hi - lo)),
                    _ => RGBColor(240, 240, 240),
                };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                    fill.filled(),
                )))?;
                if let Some(v) = value {
                    let ink = text_color(fill);
                    let style = TextStyle::from(("sans-serif", cell_font).into_font())
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    chart.draw_series(std::iter::once(Text::new(
                        format!("{v:.1}"),
                        (x0 + 0.5, y0 + 0.5),
                        style,
                    )))?;
                }
            }
        }
        // Rows not trained (a run stopped early) stay grey.
        for i in self.rows.len()..n {
            let y0 = nf - i as f64 - 1.0;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y0), (nf, y0 + 1.0)],
                RGBColor(240, 240, 240).filled(),
            )))?;
        }

        // Colour bar.
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(s.margin() * 4)
            .margin_bottom(s.label_area() + s.margin())
            .margin_right(s.margin())
            .y_label_area_size((80.0 * s.scale) as u32)
            .build_cartesian_2d(0.0..1.0, lo..hi)?;
        cb.configure_mesh()
            .disable_x_axis()
            .disable_mesh()
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(s.ticks())
            .draw()?;
        let steps = 100;
        cb.draw_series((0..steps).map(|k| {
            let a = lo + (hi - lo) * k as f64 / steps as f64;
            let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                viridis(k as f64 / (steps - 1) as f64).filled(),
            )
        }))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_text_contrast() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
        assert_eq!(text_color(viridis(0.0)), WHITE);
        assert_eq!(text_color(viridis(1.0)), BLACK);
    }
}
