//! Summary metrics computed from the raw accuracy matrix, never assembled per method.

use crate::TaskMatrix;
use serde::{Deserialize, Serialize};

/// ACC, BWT and forgetting of a run, from its accuracy matrix R (percent):
/// - `acc` = mean over j of R[n][j] (n = last finished task);
/// - `bwt` = mean over j < n of R[n][j] - R[j][j];
/// - `forgetting` = mean over j < n of (max over j <= l < n of R[l][j]) - R[n][j].
///
/// With a single finished task, BWT and forgetting are 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub acc: f64,
    pub bwt: f64,
    pub forgetting: f64,
}

impl Metrics {
    /// Metrics of the matrix's last finished row; `None` when no task has finished.
    pub fn from_matrix(r: &TaskMatrix) -> Option<Self> {
        let n = r.rows().checked_sub(1)?;
        let last = r.seen(n);
        let acc = mean(&last)?;
        let old: Vec<usize> = (0..n).collect();
        let bwt = mean(
            &old.iter()
                .map(|&j| last[j] - r.get(j, j).unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        )
        .unwrap_or(0.0);
        let forgetting = mean(
            &old.iter()
                .map(|&j| {
                    let best = (j..n)
                        .filter_map(|l| r.get(l, j))
                        .fold(f64::NEG_INFINITY, f64::max);
                    best - last[j]
                })
                .collect::<Vec<_>>(),
        )
        .unwrap_or(0.0);
        Some(Self {
            acc,
            bwt,
            forgetting,
        })
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[f64]]) -> TaskMatrix {
        let mut m = TaskMatrix::new();
        for r in rows {
            m.push_row(r, rows.len());
        }
        m
    }

    #[test]
    fn no_forgetting_gives_zero_bwt_and_forgetting() {
        let m = matrix(&[&[90.0], &[90.0, 80.0], &[90.0, 80.0, 70.0]]);
        let x = Metrics::from_matrix(&m).unwrap();
        assert_eq!(x.acc, 80.0);
        assert_eq!(x.bwt, 0.0);
        assert_eq!(x.forgetting, 0.0);
    }

    #[test]
    fn forgetting_uses_the_best_earlier_accuracy() {
        // Task 0: 90 -> 95 -> 60; task 1: 80 -> 70; task 2: 50.
        let m = matrix(&[&[90.0], &[95.0, 80.0], &[60.0, 70.0, 50.0]]);
        let x = Metrics::from_matrix(&m).unwrap();
        assert_eq!(x.acc, 60.0);
        assert_eq!(x.bwt, ((60.0 - 90.0) + (70.0 - 80.0)) / 2.0);
        assert_eq!(x.forgetting, ((95.0 - 60.0) + (80.0 - 70.0)) / 2.0);
    }

    #[test]
    fn single_task_and_empty() {
        assert_eq!(
            Metrics::from_matrix(&matrix(&[&[42.0]])),
            Some(Metrics {
                acc: 42.0,
                bwt: 0.0,
                forgetting: 0.0
            })
        );
        assert_eq!(Metrics::from_matrix(&TaskMatrix::new()), None);
    }
}
