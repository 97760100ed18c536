//! What a worker reports while it runs, one JSON object per line on its event stream.

use crate::EpochRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// Training of a task began.
    TaskStarted { task: usize, tasks: usize },
    /// The run continues from the state an interrupted attempt saved after `tasks_done` of its
    /// `tasks` tasks (their rows are evaluated again from the checkpoints, not retrained).
    Resumed {
        tasks_done: usize,
        tasks: usize,
        /// Epochs of the next task restored from its in-task state (0: it starts over).
        #[serde(default)]
        epochs_done: usize,
    },
    /// A batch finished; sent sparingly (for progress display only).
    Progress {
        task: usize,
        epoch: usize,
        epochs: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    /// An epoch finished.
    Epoch(EpochRecord),
    /// All seen tasks were evaluated after task `after_task` (1-based); percent and loss.
    Evaluated {
        after_task: usize,
        accuracy: Vec<f64>,
        loss: Vec<f64>,
    },
    /// The run failed with this error.
    Failed { error: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_json() {
        let e = WorkerEvent::Evaluated {
            after_task: 2,
            accuracy: vec![90.0, 80.0],
            loss: vec![0.1, 0.2],
        };
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.starts_with("{\"event\":\"evaluated\""), "{s}");
        assert_eq!(serde_json::from_str::<WorkerEvent>(&s).unwrap(), e);
    }
}
