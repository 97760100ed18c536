//! Final accuracy of each task (the last row of the accuracy matrix), grouped bars per
//! method: mean over seeds, sample-std error bars where there is more than one seed.

use super::{
    color, draw_side_legend, integer_points, side_legend_width, Chart, DrawResult, LegendEntry,
    Style, Ticked,
};
use crate::stats::column_mean_std;
use crate::{ReportError, SweepData};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct TaskBars {
    pub label: String,
    /// Per task (index 0 = task 1): mean and std of its final accuracy.
    pub tasks: Vec<Option<(f64, Option<f64>)>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PerTask {
    pub title: String,
    pub tasks: usize,
    pub groups: Vec<TaskBars>,
}

impl PerTask {
    pub fn build(data: &SweepData) -> Result<PerTask, ReportError> {
        let mut groups = Vec::new();
        let mut tasks = 0;
        for g in data.groups() {
            let finals: Vec<Vec<Option<f64>>> = g
                .run_ids
                .iter()
                .filter_map(|id| data.results.get(id))
                .filter_map(|r| r.acc_matrix.0.last().cloned())
                .collect();
            if finals.is_empty() {
                continue;
            }
            let per_task = column_mean_std(&finals);
            tasks = tasks.max(per_task.len());
            groups.push(TaskBars {
                label: g.label,
                tasks: per_task,
            });
        }
        if groups.is_empty() || tasks == 0 {
            return Err(ReportError::NoData(format!(
                "sweep '{}' has no finished run with an accuracy matrix",
                data.name
            )));
        }
        Ok(PerTask {
            title: format!("Final accuracy per task — {}", data.name),
            tasks,
            groups,
        })
    }
}

impl Chart for PerTask {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: &Style) -> DrawResult<DB> {
        let n = self.tasks;
        let hi = self
            .groups
            .iter()
            .flat_map(|g| g.tasks.iter().flatten())
            .map(|(m, sd)| m + sd.unwrap_or(0.0))
            .fold(0.0, f64::max);
        // Accuracy in percent on a 0-100 axis (beyond only if a mean plus std exceeds it).
        let top = if hi <= 100.0 { 100.0 } else { hi * 1.03 };
        // Bars fill the plot: the legend goes beside it.
        let entries: Vec<LegendEntry> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| LegendEntry {
                label: g.label.clone(),
                color: color(i),
            })
            .collect();
        let body = root
            .margin(s.margin(), 0, 0, 0)
            .titled(&self.title, s.title())?;
        let legend_w = side_legend_width(&body, &entries, s);
        let (plot_area, legend_area) =
            body.split_horizontally(body.dim_in_pixel().0.saturating_sub(legend_w));
        draw_side_legend(&legend_area, &entries, s)?;
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(s.margin())
            .x_label_area_size(s.label_area())
            .y_label_area_size(s.label_area())
            .build_cartesian_2d(
                Ticked::new(0.5..n as f64 + 0.5, integer_points(1, n)),
                0.0..top,
            )?;
        chart
            .configure_mesh()
            .x_labels(n + 2)
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("task")
            .y_desc("final accuracy (%)")
            .axis_desc_style(s.axis_desc())
            .label_style(s.ticks())
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        let g_count = self.groups.len() as f64;
        let width = 0.8 / g_count;
        for (gi, g) in self.groups.iter().enumerate() {
            let c = color(gi);
            let left = |t: usize| t as f64 + 1.0 - 0.4 + gi as f64 * width;
            chart.draw_series(g.tasks.iter().enumerate().filter_map(|(t, v)| {
                let (mean, _) = (*v)?;
                let x0 = left(t);
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.92, mean)],
                    c.filled(),
                ))
            }))?;
            // Error bars: a line and two caps, without plotters' marker at the mean.
            let ink = BLACK.stroke_width(s.line().max(2) - 1);
            chart.draw_series(
                g.tasks
                    .iter()
                    .enumerate()
                    .filter_map(|(t, v)| {
                        let (mean, sd) = (*v)?;
                        Some((left(t) + width * 0.46, mean, sd?))
                    })
                    .flat_map(|(x, mean, sd)| {
                        let cap = width * 0.25;
                        [
                            vec![(x, mean - sd), (x, mean + sd)],
                            vec![(x - cap, mean - sd), (x + cap, mean - sd)],
                            vec![(x - cap, mean + sd), (x + cap, mean + sd)],
                        ]
                        .map(|path| PathElement::new(path, ink))
                    }),
            )?;
        }
        Ok(())
    }
}
