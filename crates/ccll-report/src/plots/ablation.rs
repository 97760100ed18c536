//! Final ACC against one swept value: mean over seeds with sample-std error bars (none for a
//! single seed), one line per combination of the other swept values (e.g. per method).
//! The x value may be numeric (a linear axis) or categorical (evenly spaced labelled ticks).

use super::{color, padded, tick_label, Chart, DrawResult, Style, Ticked};
use crate::stats::mean_std;
use crate::sweep::{group_runs, is_seed_key, run_value, swept_key_for, value_text};
use crate::{ReportError, SweepData};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One point: x position, mean ACC, std (if more than one run), runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AblationPoint {
    pub x: f64,
    pub mean: f64,
    pub std: Option<f64>,
    pub runs: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AblationLine {
    pub label: String,
    pub points: Vec<AblationPoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ablation {
    pub title: String,
    pub x_desc: String,
    /// Tick labels of a categorical axis (x = 0, 1, ...); `None` for a numeric axis.
    pub categories: Option<Vec<String>>,
    pub lines: Vec<AblationLine>,
}

impl Ablation {
    /// Builds the chart of `data` against `key` (see [`run_value`] for how keys are found).
    pub fn build(data: &SweepData, key: &str) -> Result<Ablation, ReportError> {
        let finished: Vec<_> = data.finished().map(|(r, _)| r.clone()).collect();
        if finished.is_empty() {
            return Err(ReportError::NoData(format!(
                "sweep '{}' has no finished run yet",
                data.name
            )));
        }
        let xs: Vec<Option<serde_json::Value>> =
            finished.iter().map(|r| run_value(r, key)).collect();
        if xs.iter().all(Option::is_none) {
            let mut known = data.swept_keys();
            known.extend(["alpha", "beta", "method", "base_source"].map(String::from));
            return Err(ReportError::UnknownKey {
                sweep: data.name.clone(),
                key: key.to_string(),
                known: known.join(", "),
            });
        }
        let numeric = xs.iter().flatten().all(|v| v.is_number());
        let mut categories: Vec<String> = Vec::new();
        if !numeric {
            for v in xs.iter().flatten() {
                let t = value_text(v);
                if !categories.contains(&t) {
                    categories.push(t);
                }
            }
        }
        let position = |v: &serde_json::Value| -> Option<f64> {
            if numeric {
                v.as_f64()
            } else {
                let t = value_text(v);
                categories.iter().position(|c| *c == t).map(|i| i as f64)
            }
        };

        // Lines: the other swept values, without the x key itself and the seed.
        let x_key = swept_key_for(&data.swept_keys(), key);
        let leave_out: Vec<String> = x_key.into_iter().collect();
        let with_x: Vec<_> = finished
            .iter()
            .zip(&xs)
            .filter_map(|(r, x)| Some((r, position(x.as_ref()?)?)))
            .collect();
        let runs: Vec<_> = with_x.iter().map(|(r, _)| (*r).clone()).collect();
        let mut lines = Vec::new();
        for g in group_runs(&runs, &leave_out) {
            let mut by_x: Vec<(f64, Vec<f64>)> = Vec::new();
            for (r, x) in with_x.iter().filter(|(r, _)| g.run_ids.contains(&r.id)) {
                let Some(acc) = data.results.get(&r.id).map(|res| res.metrics.acc) else {
                    continue;
                };
                match by_x.iter_mut().find(|(bx, _)| bx == x) {
                    Some((_, v)) => v.push(acc),
                    None => by_x.push((*x, vec![acc])),
                }
            }
            by_x.sort_by(|a, b| a.0.total_cmp(&b.0));
            let points = by_x
                .into_iter()
                .filter_map(|(x, accs)| {
                    let (mean, std) = mean_std(&accs)?;
                    Some(AblationPoint {
                        x,
                        mean,
                        std,
                        runs: accs.len(),
                    })
                })
                .collect::<Vec<_>>();
            if !points.is_empty() {
                lines.push(AblationLine {
                    label: g.label,
                    points,
                });
            }
        }
        if lines.is_empty() {
            return Err(ReportError::NoData(format!(
                "no finished run of sweep '{}' has a final ACC",
                data.name
            )));
        }
        let shown = if is_seed_key(key) { "seed" } else { key };
        Ok(Ablation {
            title: format!("Final ACC vs {shown} — {}", data.name),
            x_desc: shown.to_string(),
            categories: (!numeric).then_some(categories),
            lines,
        })
    }
}

impl Chart for Ablation {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: &Style) -> DrawResult<DB> {
        let points = self.lines.iter().flat_map(|l| &l.points);
        let (raw_lo, raw_hi) = points
            .clone()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.x), hi.max(p.x))
            });
        let log = self.categories.is_none() && uses_log_axis(raw_lo, raw_hi);
        let fx = move |x: f64| if log { x.log2() } else { x };
        let (x_lo, x_hi) = (fx(raw_lo), fx(raw_hi));
        let (y_lo, y_hi) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            let sd = p.std.unwrap_or(0.0);
            (lo.min(p.mean - sd), hi.max(p.mean + sd))
        });
        let (x_range, keys) = match &self.categories {
            Some(c) => (
                (-0.5, c.len() as f64 - 0.5),
                (0..c.len()).map(|i| i as f64).collect::<Vec<_>>(),
            ),
            None => {
                let mut keys: Vec<f64> = self
                    .lines
                    .iter()
                    .flat_map(|l| l.points.iter().map(|p| fx(p.x)))
                    .collect();
                keys.sort_by(f64::total_cmp);
                keys.dedup();
                (padded(x_lo, x_hi, 0.08), keys)
            }
        };
        // Headroom above for the legend.
        let (y0, y1) = padded(y_lo, y_hi, 0.15);
        let y1 = y1 + (y1 - y0) * 0.25;
        let categories = self.categories.clone();
        let x_fmt = move |v: &f64| match &categories {
            Some(c) => c
                .get(v.round().max(0.0) as usize)
                .cloned()
                .unwrap_or_default(),
            None if log => trim_number(v.exp2()),
            None => trim_number(*v),
        };
        let x_desc = if log {
            format!("{} (log scale)", self.x_desc)
        } else {
            self.x_desc.clone()
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, s.title())
            .margin(s.margin())
            .x_label_area_size(s.label_area())
            .y_label_area_size(s.label_area())
            .build_cartesian_2d(Ticked::new(x_range.0..x_range.1, keys.clone()), y0..y1)?;
        chart
            .configure_mesh()
            .x_labels(keys.len() + 1)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|v| tick_label(*v, y1 - y0))
            .x_desc(&x_desc)
            .y_desc("final ACC (%)")
            .axis_desc_style(s.axis_desc())
            .label_style(s.ticks())
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        // Lines at the same x are nudged apart so their error bars stay readable.
        let span = x_range.1 - x_range.0;
        let count = self.lines.len() as f64;
        let key_w = s.legend_key() as i32;
        for (i, l) in self.lines.iter().enumerate() {
            let c = color(i);
            let nudge = (i as f64 - (count - 1.0) / 2.0) * span * 0.006;
            let pts: Vec<(f64, f64)> = l.points.iter().map(|p| (fx(p.x) + nudge, p.mean)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(s.line())))?
                .label(&l.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + key_w, y)], c.stroke_width(3))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, s.marker(), c.filled())))?;
            chart.draw_series(l.points.iter().filter_map(|p| {
                let sd = p.std?;
                Some(ErrorBar::new_vertical(
                    fx(p.x) + nudge,
                    p.mean - sd,
                    p.mean,
                    p.mean + sd,
                    c.stroke_width(s.line().max(2) - 1),
                    (14.0 * s.scale) as u32,
                ))
            }))?;
        }
        super::draw_legend(&mut chart, s, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// Positive values spanning a factor of 8 or more (alpha 1..16, learning rates) are drawn on a
/// log2 axis, where a doubling is one step; others on a linear one.
fn uses_log_axis(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo >= 8.0
}

/// 4 rather than 4.0; 0.25 stays 0.25.
fn trim_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{trim_number, uses_log_axis};

    #[test]
    fn doublings_get_a_log_axis_and_small_or_signed_ranges_a_linear_one() {
        assert!(uses_log_axis(1.0, 16.0));
        assert!(uses_log_axis(0.001, 0.1));
        assert!(!uses_log_axis(1.0, 4.0));
        assert!(!uses_log_axis(0.0, 16.0));
        assert!(!uses_log_axis(-1.0, 16.0));
    }

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(trim_number(4.0), "4");
        assert_eq!(trim_number(0.25), "0.25");
        assert_eq!(trim_number(-1.5), "-1.5");
    }
}
