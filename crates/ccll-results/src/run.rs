//! The result of one lifelong run, as written to `result.json` and recorded in the store.

use crate::{Metrics, ParamReport, TaskMatrix};
use serde::{Deserialize, Serialize};

/// One task of the sequence: its name and the original class labels it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub classes: Vec<String>,
    pub train_samples: usize,
    pub test_samples: usize,
}

/// One training epoch of one task (1-based task and epoch numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub task: usize,
    pub epoch: usize,
    pub train_loss: f64,
    /// Training accuracy in percent over the epoch's batches.
    pub train_acc: f64,
    pub lr: f64,
    pub seconds: f64,
}

/// A file the run wrote (a checkpoint), with its content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// What the file holds: `base`, `task3`, ...
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub method: String,
    pub benchmark: String,
    pub seed: u64,
    pub tasks: Vec<TaskInfo>,
    /// Test accuracy (percent) of task j after training task i.
    pub acc_matrix: TaskMatrix,
    /// Mean test cross-entropy of task j after training task i.
    pub loss_matrix: TaskMatrix,
    pub metrics: Metrics,
    pub params: ParamReport,
    pub curves: Vec<EpochRecord>,
    pub artifacts: Vec<Artifact>,
    /// The device it ran on (`cpu`, `cuda:0`).
    pub device: String,
    /// Where the data came from: the files found and any provenance note (e.g. CIFAR-10
    /// derived from a JPEG copy). Empty in results written before it was recorded.
    #[serde(default)]
    pub data_source: String,
    pub wall_seconds: f64,
    /// Task-agnostic evaluation (no task id at test time); `None` in results written before
    /// it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_agnostic: Option<TaskAgnostic>,
}

/// The task-agnostic (TAg) results of a run: every rule that applies, and which one the
/// summary reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAgnostic {
    /// The rule whose results are the run's TAg summary (`method.task_inference` or the
    /// method's default).
    pub primary: String,
    /// Seconds per test image of task-aware inference (one task's modules, over every
    /// evaluation of the run), to compare with each rule's.
    pub task_aware_seconds_per_image: f64,
    pub rules: Vec<RuleResult>,
}

/// One task-inference rule over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule: String,
    /// TAg accuracy (percent) of task j after training task i: the task inferred right and
    /// its prediction right.
    pub acc_matrix: TaskMatrix,
    /// Share (percent) of task j's test images whose task was inferred right after task i.
    pub task_id_matrix: TaskMatrix,
    /// ACC / BWT / forgetting of `acc_matrix`.
    pub metrics: Metrics,
    /// Seconds per test image of inferring the task (over every evaluation of the run).
    pub seconds_per_image: f64,
}

impl TaskAgnostic {
    /// The primary rule's results.
    pub fn primary_result(&self) -> Option<&RuleResult> {
        self.rules.iter().find(|r| r.rule == self.primary)
    }
}
