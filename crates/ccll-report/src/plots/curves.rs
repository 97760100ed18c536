//! Training curves of one run: loss and training accuracy per epoch, epochs numbered across
//! the whole task sequence, one colour per task, dashed lines where a new task begins.

use super::{color, padded, tick_label, Chart, DrawResult, Style};
use crate::{ReportError, Store};
use ccll_results::EpochRecord;
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    pub title: String,
    pub epochs: Vec<EpochRecord>,
}

impl Curves {
    pub async fn load(store: &Store, run_id: i64) -> Result<Curves, ReportError> {
        let row = store.run(run_id).await?;
        let result = store.run_result(run_id).await?;
        if result.curves.is_empty() {
            return Err(ReportError::NoData(format!(
                "run {run_id} recorded no training curves"
            )));
        }
        Ok(Curves {
            title: format!("Training curves — run {run_id}: {}", row.name),
            epochs: result.curves,
        })
    }

    /// The epochs of each task in order, with their position on the shared x axis (1-based).
    fn by_task(&self) -> Vec<(usize, Vec<(f64, &EpochRecord)>)> {
        let mut out: Vec<(usize, Vec<(f64, &EpochRecord)>)> = Vec::new();
        for (i, e) in self.epochs.iter().enumerate() {
            let x = (i + 1) as f64;
            match out.last_mut() {
                Some((task, v)) if *task == e.task => v.push((x, e)),
                _ => out.push((e.task, vec![(x, e)])),
            }
        }
        out
    }

    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: &Style,
        y_desc: &str,
        value: fn(&EpochRecord) -> f64,
        legend: bool,
    ) -> DrawResult<DB> {
        let tasks = self.by_task();
        let n = self.epochs.len() as f64;
        let values: Vec<f64> = self
            .epochs
            .iter()
            .map(value)
            .filter(|v| v.is_finite())
            .collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (y0, y1) = if lo.is_finite() {
            padded(lo, hi, 0.08)
        } else {
            (0.0, 1.0)
        };
        let y1 = if legend { y1 + (y1 - y0) * 0.3 } else { y1 };
        let mut chart = ChartBuilder::on(area)
            .margin(s.margin())
            .x_label_area_size(s.label_area())
            .y_label_area_size(s.label_area())
            .build_cartesian_2d(0.5..n + 0.5, y0..y1)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .y_label_formatter(&|v| tick_label(*v, y1 - y0))
            .x_desc("epoch (counted across tasks)")
            .y_desc(y_desc)
            .axis_desc_style(s.axis_desc())
            .label_style(s.ticks())
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        let key_w = s.legend_key() as i32;
        for (k, (task, pts)) in tasks.iter().enumerate() {
            let c = color(k);
            let line: Vec<(f64, f64)> = pts
                .iter()
                .map(|(x, e)| (*x, value(e)))
                .filter(|p| p.1.is_finite())
                .collect();
            let series =
                chart.draw_series(LineSeries::new(line.clone(), c.stroke_width(s.line())))?;
            if legend {
                series.label(format!("task {task}")).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + key_w, y)], c.stroke_width(3))
                });
            }
            chart.draw_series(
                line.iter()
                    .map(|&p| Circle::new(p, s.marker() - 1, c.filled())),
            )?;
            if k > 0 {
                let x = pts[0].0 - 0.5;
                chart.draw_series(DashedLineSeries::new(
                    vec![(x, y0), (x, y1)],
                    6,
                    4,
                    BLACK.mix(0.4).stroke_width(1),
                ))?;
            }
        }
        if legend {
            super::draw_legend(&mut chart, s, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }
}

impl Chart for Curves {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: &Style) -> DrawResult<DB> {
        // A top margin: ab_glyph draws a little above the text box.
        let body = root
            .margin(s.margin(), 0, 0, 0)
            .titled(&self.title, s.title())?;
        let panels = body.split_evenly((1, 2));
        self.panel(&panels[0], s, "training loss", |e| e.train_loss, true)?;
        self.panel(
            &panels[1],
            s,
            "training accuracy (%)",
            |e| e.train_acc,
            false,
        )?;
        Ok(())
    }
}
