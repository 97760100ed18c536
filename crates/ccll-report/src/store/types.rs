//! The rows the store takes and gives back.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A sweep (one expanded study) to create or update by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSweep {
    pub name: String,
    pub study_file: Option<String>,
    pub profile: Option<String>,
    /// The expanded study spec.
    pub spec: serde_json::Value,
}

/// A run to register before it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// `None` for a single `ccll train`.
    pub sweep_id: Option<i64>,
    /// Human label, e.g. "ccll a=4 b=1 seed=1".
    pub name: String,
    /// The full run config.
    pub config: serde_json::Value,
    /// Hex sha256 of the canonical config.
    pub config_hash: String,
    /// Hash of the config without the seed: runs differing only by seed share it.
    pub group_key: String,
    /// The grid values of this run, e.g. `{"method.name":"ccll","method.alpha":4,"train.seed":1}`.
    pub swept: serde_json::Value,
    pub method: String,
    pub benchmark: String,
    pub arch: String,
    pub alpha: Option<i64>,
    pub beta: Option<i64>,
    pub seed: i64,
    pub base_source: String,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
    /// Absolute path of the run folder, where known.
    pub run_dir: Option<String>,
    /// The `base_checkpoints.hash` of the shared base the run starts from, if it uses one.
    pub base_hash: Option<String>,
}

/// Where a run stands; stored as lowercase text under a CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown run status '{s}'"))
    }
}

/// A run as listed by [`crate::Store::runs`]: identity, configuration, status and summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub sweep: Option<String>,
    pub name: String,
    pub config_hash: String,
    pub group_key: String,
    pub status: RunStatus,
    pub method: String,
    pub benchmark: String,
    pub arch: String,
    pub alpha: Option<i64>,
    pub beta: Option<i64>,
    pub seed: i64,
    pub base_source: String,
    pub config: serde_json::Value,
    pub swept: serde_json::Value,
    pub acc: Option<f64>,
    pub bwt: Option<f64>,
    pub forgetting: Option<f64>,
    pub error: Option<String>,
    pub log_tail: Option<String>,
    pub attempts: i64,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub device: Option<String>,
    pub host: Option<String>,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
    pub wall_seconds: Option<f64>,
    /// The run folder (NULL for runs recorded before schema version 5).
    pub run_dir: Option<String>,
    /// The shared base it started from (`base_checkpoints.hash`), if any.
    pub base_hash: Option<String>,
    /// Times it stopped to be requeued (preemption, time limit) and continued.
    pub requeues: i64,
    pub requeue_reason: Option<String>,
}

/// A sweep as stored, with counts of its runs by status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    pub id: i64,
    pub name: String,
    pub study_file: Option<String>,
    pub profile: Option<String>,
    pub spec: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    pub runs: i64,
    pub finished: i64,
    pub failed: i64,
}

/// A pretrained shared base to remember across sweeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewBase {
    /// Content hash of what produced the base (its pretraining config); the lookup key.
    pub hash: String,
    pub path: String,
    /// sha256 of the checkpoint file.
    pub sha256: String,
    pub bytes: Option<u64>,
    /// What it was trained on, in words.
    pub source: String,
}

/// A recorded base checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseCheckpoint {
    pub hash: String,
    pub path: String,
    pub sha256: String,
    pub bytes: Option<u64>,
    pub source: String,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_round_trips() {
        for st in RunStatus::ALL {
            assert_eq!(st.as_str().parse::<RunStatus>(), Ok(st));
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
