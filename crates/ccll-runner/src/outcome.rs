//! What a job left behind: the result of a run or the manifest of a base when it finished,
//! otherwise the error (from the worker's `failed` event, or how the process ended) and the
//! tail of its log. Files are the truth here: a `result.json` whose config matches the run
//! counts as finished however the process ended, which is what lets a restarted runner record
//! a run that finished while nobody was watching.

use crate::identity::identity;
use crate::job::{EVENTS_FILE, LOG_FILE};
use ccll_core::run::{read_base_manifest, BaseManifest, CONFIG_FILE, RESULT_FILE};
use ccll_core::RunConfig;
use ccll_results::{RunResult, WorkerEvent};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Lines of a worker's log kept with a failed run.
pub const LOG_TAIL_LINES: usize = 40;

/// A job that did not produce its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub log_tail: String,
}

/// The finished result in `dir`, if `result.json` exists and `config.yaml` beside it is the
/// run with `config_hash`.
pub fn result_on_disk(dir: &Path, config_hash: &str) -> Option<RunResult> {
    let text = std::fs::read_to_string(dir.join(RESULT_FILE)).ok()?;
    let result: RunResult = serde_json::from_str(&text).ok()?;
    let cfg = RunConfig::from_recorded_file(&dir.join(CONFIG_FILE)).ok()?;
    (identity(&cfg).config_hash == config_hash).then_some(result)
}

/// The outcome of a run job that ended; `ended` says how the process ended when that is
/// known (`exit status 1`, `Slurm state TIMEOUT`).
pub fn run_outcome(
    dir: &Path,
    config_hash: &str,
    ended: &str,
    extra_log: Option<&Path>,
) -> Result<RunResult, Failure> {
    if let Some(r) = result_on_disk(dir, config_hash) {
        return Ok(r);
    }
    Err(failure(
        dir,
        ended,
        "the worker wrote no result.json",
        extra_log,
    ))
}

/// The outcome of a base job that ended.
pub fn base_outcome(
    dir: &Path,
    key: &str,
    ended: &str,
    extra_log: Option<&Path>,
) -> Result<BaseManifest, Failure> {
    match read_base_manifest(dir) {
        Ok(m) if m.key == key => Ok(m),
        Ok(m) => Err(Failure {
            error: format!(
                "{}: the base manifest says key {} but the job was for {key}",
                dir.display(),
                m.key
            ),
            log_tail: log_tail(dir, extra_log),
        }),
        Err(_) => Err(failure(
            dir,
            ended,
            "the worker wrote no base.json",
            extra_log,
        )),
    }
}

fn failure(dir: &Path, ended: &str, missing: &str, extra_log: Option<&Path>) -> Failure {
    let error = match last_failed_event(&dir.join(EVENTS_FILE)) {
        Some(e) => format!("{e} ({ended})"),
        None => format!("{missing} ({ended})"),
    };
    Failure {
        error,
        log_tail: log_tail(dir, extra_log),
    }
}

/// The error of the last `failed` event in an events file.
pub fn last_failed_event(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<WorkerEvent>(l).ok())
        .find_map(|e| match e {
            WorkerEvent::Failed { error } => Some(error),
            _ => None,
        })
}

/// The last lines of the job's `worker.log`, or of `extra` (a Slurm output file) when the
/// worker log is empty or missing.
pub fn log_tail(dir: &Path, extra: Option<&Path>) -> String {
    let own = tail_lines(&dir.join(LOG_FILE), LOG_TAIL_LINES);
    match (own.trim().is_empty(), extra) {
        (true, Some(p)) => tail_lines(p, LOG_TAIL_LINES),
        _ => own,
    }
}

/// The last `n` lines of a text file (reading at most its last 64 KiB).
pub fn tail_lines(path: &Path, n: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX && f.seek(SeekFrom::Start(len - MAX)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_prefers_the_workers_own_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(EVENTS_FILE),
            "{\"event\":\"task_started\",\"task\":1,\"tasks\":2}\n{\"event\":\"failed\",\"error\":\"loss is NaN\"}\n",
        )
        .unwrap();
        let log: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join(LOG_FILE), log).unwrap();
        let f = run_outcome(dir.path(), "abc", "exit status 1", None).unwrap_err();
        assert_eq!(f.error, "loss is NaN (exit status 1)");
        assert_eq!(f.log_tail.lines().count(), LOG_TAIL_LINES);
        assert!(f.log_tail.ends_with("line 99"));
        let empty = tempfile::tempdir().unwrap();
        let f = run_outcome(empty.path(), "abc", "killed by signal 9", None).unwrap_err();
        assert_eq!(
            f.error,
            "the worker wrote no result.json (killed by signal 9)"
        );
    }
}
