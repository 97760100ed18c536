//! Axis helpers: a linear f64 axis whose tick marks sit exactly where we say (task numbers,
//! cell centres, categories). plotters' own `WithKeyPoints` over f64 cannot take a label
//! formatter in 0.3, hence this small coordinate.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use std::ops::Range;

/// A linear axis over `range` with ticks at `points` only.
pub(crate) struct Ticked {
    inner: RangedCoordf64,
    points: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(range: Range<f64>, points: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            points,
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // No light (minor) grid lines; the bold ones at our points.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.points.clone()
        }
    }
}

/// Ticks at each integer from `lo` to `hi`, for axes of task numbers.
pub(crate) fn integer_points(lo: usize, hi: usize) -> Vec<f64> {
    (lo..=hi).map(|v| v as f64).collect()
}

/// Range `[lo, hi]` widened by `pad` of its span on each side (by 1 when it is empty).
pub(crate) fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span.abs() < 1e-12 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo - span * pad, hi + span * pad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding() {
        assert_eq!(padded(0.0, 10.0, 0.1), (-1.0, 11.0));
        assert_eq!(padded(5.0, 5.0, 0.1), (4.0, 6.0));
    }
}
