//! Cumulative parameters over tasks, one line per method: CCLL stays nearly flat while
//! separate networks and progressive networks climb. Each point carries the growth of its
//! task in percent of the base network.

use super::{color, integer_points, Chart, DrawResult, Style, Ticked};
use crate::{ReportError, RunStatus, Store, SweepData};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One line: (task, cumulative parameters, growth % of that task).
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthLine {
    pub label: String,
    pub points: Vec<(usize, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamGrowth {
    pub title: String,
    pub lines: Vec<GrowthLine>,
}

impl ParamGrowth {
    /// One line per method of the sweep. Parameters do not depend on the seed, so a group's
    /// first finished run stands for it; a method whose groups differ in parameters (CCLL
    /// at several alphas) gets one line per distinct curve, labelled by its group.
    pub fn for_sweep(data: &SweepData) -> Result<ParamGrowth, ReportError> {
        // (method, group label, line) of each group with a finished run.
        let mut candidates: Vec<(String, GrowthLine)> = Vec::new();
        for g in data.groups() {
            let Some((run, result)) = g
                .run_ids
                .iter()
                .find_map(|id| Some((data.run(*id)?, data.results.get(id)?)))
            else {
                continue;
            };
            if let Some(l) = line(g.label, result) {
                candidates.push((run.method.clone(), l));
            }
        }
        let mut lines: Vec<GrowthLine> = Vec::new();
        let mut methods: Vec<&str> = Vec::new();
        for (m, _) in &candidates {
            if !methods.contains(&m.as_str()) {
                methods.push(m);
            }
        }
        for method in methods {
            let mut curves: Vec<&GrowthLine> = Vec::new();
            for (_, l) in candidates.iter().filter(|(m, _)| m == method) {
                if !curves.iter().any(|c| c.points == l.points) {
                    curves.push(l);
                }
            }
            if curves.len() == 1 {
                lines.push(GrowthLine {
                    label: method.to_string(),
                    points: curves[0].points.clone(),
                });
            } else {
                lines.extend(curves.into_iter().cloned());
            }
        }
        if lines.is_empty() {
            return Err(ReportError::NoData(format!(
                "sweep '{}' has no finished run with parameter counts",
                data.name
            )));
        }
        Ok(ParamGrowth {
            title: format!("Parameter growth over tasks — {}", data.name),
            lines,
        })
    }

    /// One line per method: its most recently finished run in the whole store.
    pub async fn latest_per_method(store: &Store) -> Result<ParamGrowth, ReportError> {
        let mut runs = store.runs(None).await?;
        runs.retain(|r| r.status == RunStatus::Finished);
        // Latest first, then keep the first run seen of each method.
        runs.sort_by(|a, b| (&b.finished_at, b.id).cmp(&(&a.finished_at, a.id)));
        let mut methods: Vec<(String, i64)> = Vec::new();
        for r in &runs {
            if !methods.iter().any(|(m, _)| *m == r.method) {
                methods.push((r.method.clone(), r.id));
            }
        }
        methods.sort();
        let mut lines = Vec::new();
        for (method, id) in methods {
            if let Some(l) = line(method, &store.run_result(id).await?) {
                lines.push(l);
            }
        }
        if lines.is_empty() {
            return Err(ReportError::NoData(
                "the store has no finished run with parameter counts (list runs with \
                 `ccll-report runs`)"
                    .to_string(),
            ));
        }
        Ok(ParamGrowth {
            title: "Parameter growth over tasks".to_string(),
            lines,
        })
    }
}

fn line(label: String, r: &ccll_results::RunResult) -> Option<GrowthLine> {
    let points: Vec<(usize, f64, f64)> = r
        .params
        .per_task
        .iter()
        .map(|t| (t.task, t.cumulative_params as f64, t.growth_pct))
        .collect();
    (!points.is_empty()).then_some(GrowthLine { label, points })
}

/// A growth label: its task, the model size there, the point's pixel position.
struct GrowthLabel {
    task: usize,
    params: f64,
    at: (i32, i32),
    text: String,
    color: RGBColor,
}

/// Scale and axis label for parameter counts.
fn unit(max: f64) -> (f64, &'static str) {
    if max >= 1e6 {
        (1e6, "parameters (millions)")
    } else if max >= 1e3 {
        (1e3, "parameters (thousands)")
    } else {
        (1.0, "parameters")
    }
}

fn pct(g: f64) -> String {
    if g.abs() >= 10.0 {
        format!("+{g:.0}%")
    } else {
        format!("+{g:.2}%")
    }
}

impl Chart for ParamGrowth {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: &Style) -> DrawResult<DB> {
        let tasks = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .max()
            .unwrap_or(1);
        let max = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let (scale, y_desc) = unit(max);
        // From zero, so that a flat line reads as flat; headroom for the labels and legend.
        let top = (max / scale * 1.25).max(1e-9);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, s.title())
            .margin(s.margin())
            .x_label_area_size(s.label_area())
            .y_label_area_size(s.label_area() + s.margin())
            .build_cartesian_2d(
                Ticked::new(0.5..tasks as f64 + 0.5, integer_points(1, tasks)),
                0.0..top,
            )?;
        chart
            .configure_mesh()
            .x_labels(tasks + 2)
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .x_desc("task")
            .y_desc(y_desc)
            .axis_desc_style(s.axis_desc())
            .label_style(s.ticks())
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        let mut labels: Vec<GrowthLabel> = Vec::new();
        let key_w = s.legend_key() as i32;
        for (i, l) in self.lines.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(f64, f64)> = l.points.iter().map(|p| (p.0 as f64, p.1 / scale)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(s.line())))?
                .label(&l.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + key_w, y)], c.stroke_width(3))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, s.marker(), c.filled())))?;
            for (p, &(x, y)) in l.points.iter().zip(&pts) {
                if p.0 > 1 {
                    labels.push(GrowthLabel {
                        task: p.0,
                        params: p.1,
                        at: chart.backend_coord(&(x, y)),
                        text: pct(p.2),
                        color: c,
                    });
                }
            }
        }
        // Growth labels right of their points; labels of one task that would overlap are
        // pushed down until each has its own line.
        let font_h = s.font_px(19.0) as i32 + 2;
        // Per task, the largest model first (top of the chart), so the order is the same in
        // every column.
        labels.sort_by(|a, b| a.task.cmp(&b.task).then(b.params.total_cmp(&a.params)));
        let mut last: Option<(usize, i32)> = None;
        for GrowthLabel {
            task,
            at: (x, y),
            text,
            color: c,
            ..
        } in labels
        {
            let y = match last {
                Some((t, prev)) if t == task => y.max(prev + font_h),
                _ => y,
            };
            last = Some((task, y));
            let style = s
                .annotation()
                .color(&c)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(text, (x + s.marker() + 4, y), style))?;
        }
        super::draw_legend(&mut chart, s, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}
