//! Parameter and compute accounting of a run.

use serde::{Deserialize, Serialize};

/// Parameters a task adds. `calibration_params` counts every task-specific parameter apart from
/// the head: the calibration modules for CCLL, a whole network or column (with its lateral
/// adapters) for the expansion baselines, 0 for methods that add nothing but a head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskParams {
    /// 1-based task number.
    pub task: usize,
    pub calibration_params: u64,
    pub head_params: u64,
    /// `calibration_params` as a percentage of `base_params`.
    pub growth_pct: f64,
    /// Parameters of the whole model once this task is added (base, all task modules and
    /// heads so far): the curve of the parameter-growth chart.
    pub cumulative_params: u64,
}

/// Forward FLOPs for one image, counted as 2 x multiply-accumulates of convolutions and linear
/// layers plus one FLOP per element of element-wise operations in the calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flops {
    /// The base network alone (backbone and one head).
    pub base: u64,
    /// What one task's calibration modules add on top of the base.
    pub calibration: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamReport {
    /// The shared backbone (convolutions and batch norms).
    pub backbone_params: u64,
    /// Backbone plus the heads of all tasks: the denominator of `growth_pct`.
    pub base_params: u64,
    pub per_task: Vec<TaskParams>,
    pub flops: Flops,
}

impl ParamReport {
    /// Builds the report from per-task (calibration, head) counts, filling in the growth
    /// percentages and cumulative totals.
    pub fn from_counts(backbone_params: u64, per_task: &[(u64, u64)], flops: Flops) -> Self {
        let heads: u64 = per_task.iter().map(|&(_, h)| h).sum();
        let base_params = backbone_params + heads;
        let mut cumulative = backbone_params;
        let per_task = per_task
            .iter()
            .enumerate()
            .map(|(i, &(cal, head))| {
                cumulative += cal + head;
                TaskParams {
                    task: i + 1,
                    calibration_params: cal,
                    head_params: head,
                    growth_pct: if base_params == 0 {
                        0.0
                    } else {
                        100.0 * cal as f64 / base_params as f64
                    },
                    cumulative_params: cumulative,
                }
            })
            .collect();
        Self {
            backbone_params,
            base_params,
            per_task,
            flops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_relative_to_backbone_plus_all_heads() {
        let flops = Flops {
            base: 10,
            calibration: 1,
        };
        let r = ParamReport::from_counts(900, &[(0, 50), (10, 50)], flops);
        assert_eq!(r.base_params, 1000);
        assert_eq!(r.per_task[0].growth_pct, 0.0);
        assert_eq!(r.per_task[1].growth_pct, 1.0);
        assert_eq!(r.per_task[0].cumulative_params, 950);
        assert_eq!(r.per_task[1].cumulative_params, 1010);
    }
}
