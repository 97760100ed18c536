//! Task-id accuracy against the number of tasks learned, one line per method: after task t,
//! the share of test images of tasks 1..t whose task the run's primary rule inferred right
//! (the mean over those tasks of the task-id matrix's row t), mean and sample std over seeds.
//! A grey line marks chance, 100 / t.

use super::{color, integer_points, Chart, DrawResult, Style, Ticked};
use crate::stats::column_mean_std;
use crate::{ReportError, SweepData};
use ccll_results::{RunResult, TaskMatrix};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One method's line: per number of tasks (index 0 = after task 1), mean and std.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskIdLine {
    pub label: String,
    pub points: Vec<Option<(f64, Option<f64>)>>,
    /// The group's place in the sweep, which picks its colour as in the other charts.
    pub color: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskIdCurve {
    pub title: String,
    pub tasks: usize,
    pub lines: Vec<TaskIdLine>,
}

/// The primary rule's task-id accuracy per number of tasks learned.
fn row_means(result: &RunResult) -> Option<Vec<Option<f64>>> {
    let rule = result.task_agnostic.as_ref()?.primary_result()?;
    Some(seen_means(&rule.task_id_matrix))
}

/// Per row i (after task i + 1), the mean of the cells of tasks 1..=i + 1 that were measured.
fn seen_means(matrix: &TaskMatrix) -> Vec<Option<f64>> {
    matrix
        .0
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let seen: Vec<f64> = row.iter().take(i + 1).filter_map(|v| *v).collect();
            (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
        })
        .collect()
}

impl TaskIdCurve {
    pub fn build(data: &SweepData) -> Result<TaskIdCurve, ReportError> {
        let mut lines = Vec::new();
        let mut tasks = 0;
        for (i, g) in data.groups().into_iter().enumerate() {
            let runs: Vec<Vec<Option<f64>>> = g
                .run_ids
                .iter()
                .filter_map(|id| row_means(data.results.get(id)?))
                .collect();
            let points = column_mean_std(&runs);
            if points.is_empty() {
                continue;
            }
            tasks = tasks.max(points.len());
            lines.push(TaskIdLine {
                label: g.label,
                points,
                color: i,
            });
        }
        if lines.is_empty() {
            return Err(ReportError::NoData(format!(
                "sweep '{}' has no finished run with task-agnostic results (runs recorded \
                 before task inference existed can be evaluated with `ccll eval --run DIR \
                 --task-agnostic`)",
                data.name
            )));
        }
        Ok(TaskIdCurve {
            title: format!("Task-id accuracy against tasks learned — {}", data.name),
            tasks,
            lines: merge_identical(lines),
        })
    }
}

/// Lines with equal points drawn once, labelled with every method they stand for: methods that
/// share a base and infer the task from it identify the same tasks, and the last line drawn
/// would hide the others.
fn merge_identical(lines: Vec<TaskIdLine>) -> Vec<TaskIdLine> {
    let mut merged: Vec<TaskIdLine> = Vec::new();
    for line in lines {
        match merged.iter_mut().find(|m| m.points == line.points) {
            Some(same) => {
                same.label.push_str(" = ");
                same.label.push_str(&line.label);
            }
            None => merged.push(line),
        }
    }
    merged
}

impl Chart for TaskIdCurve {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: &Style) -> DrawResult<DB> {
        let n = self.tasks;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, s.title())
            .margin(s.margin())
            .x_label_area_size(s.label_area())
            .y_label_area_size(s.label_area())
            .build_cartesian_2d(
                Ticked::new(0.5..n as f64 + 0.5, integer_points(1, n)),
                0.0..105.0,
            )?;
        chart
            .configure_mesh()
            .x_labels(n + 2)
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("tasks learned")
            .y_desc("task-id accuracy (%)")
            .axis_desc_style(s.axis_desc())
            .label_style(s.ticks())
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        let key_w = s.legend_key() as i32;
        let grey = RGBColor(150, 150, 150);
        let chance: Vec<(f64, f64)> = (1..=n).map(|t| (t as f64, 100.0 / t as f64)).collect();
        chart
            .draw_series(DashedLineSeries::new(
                chance,
                8,
                5,
                grey.stroke_width(s.line()),
            ))?
            .label("chance (100 / tasks)")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + key_w, y)], grey.stroke_width(3))
            });
        for l in &self.lines {
            let c = color(l.color);
            let pts: Vec<(f64, f64, Option<f64>)> = l
                .points
                .iter()
                .enumerate()
                .filter_map(|(t, p)| p.map(|(m, sd)| ((t + 1) as f64, m, sd)))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|&(x, y, _)| (x, y)),
                    c.stroke_width(s.line()),
                ))?
                .label(&l.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + key_w, y)], c.stroke_width(3))
                });
            chart.draw_series(
                pts.iter()
                    .map(|&(x, y, _)| Circle::new((x, y), s.marker(), c.filled())),
            )?;
            chart.draw_series(pts.iter().filter_map(|&(x, y, sd)| {
                let sd = sd?;
                Some(PathElement::new(
                    vec![(x, y - sd), (x, y + sd)],
                    c.stroke_width(s.line().max(2) - 1),
                ))
            }))?;
        }
        // Every line starts at 100 and stays above chance, which falls from 100: the lower
        // left is where no line runs.
        super::draw_legend(&mut chart, s, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_equal_points_are_drawn_once_with_every_label() {
        let line = |label: &str, second: f64| TaskIdLine {
            label: label.to_string(),
            points: vec![Some((100.0, Some(0.0))), Some((second, None))],
            color: 0,
        };
        let merged = merge_identical(vec![
            line("ccll", 82.0),
            line("finetune", 60.0),
            line("separate", 82.0),
        ]);
        let labels: Vec<&str> = merged.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["ccll = separate", "finetune"]);
    }

    #[test]
    fn a_row_is_the_mean_over_the_tasks_seen_and_unmeasured_cells_are_skipped() {
        let m = TaskMatrix(vec![
            vec![Some(100.0), Some(7.0), None],
            vec![Some(40.0), Some(60.0), None],
            vec![Some(10.0), None, Some(60.0)],
            vec![None, None, None],
        ]);
        assert_eq!(
            seen_means(&m),
            vec![Some(100.0), Some(50.0), Some(35.0), None]
        );
    }
}
