//! What a sweep shows while it runs. On a terminal: one overall bar (done/running/failed of the
//! runs to execute, with an ETA) and one line per running job (task t/T, epoch e/E, loss). Not
//! on a terminal (a log file, CI): plain lines when a job starts, finishes an epoch, finishes
//! or fails.

use crate::plan::JobRef;
use ccll_results::WorkerEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Debug, Default, Clone)]
struct JobLine {
    label: String,
    task: Option<(usize, usize)>,
    epoch: Option<(usize, usize)>,
    batch: Option<(usize, usize)>,
    loss: Option<f64>,
}

impl JobLine {
    fn text(&self) -> String {
        let mut parts = Vec::new();
        match self.task {
            // A base job's events may not say how many tasks there are.
            Some((t, 0)) => parts.push(format!("task {t}")),
            Some((t, n)) => parts.push(format!("task {t}/{n}")),
            None => {}
        }
        if let Some((e, n)) = self.epoch {
            parts.push(format!("epoch {e}/{n}"));
        }
        if let Some((b, n)) = self.batch {
            parts.push(format!("batch {b}/{n}"));
        }
        if let Some(l) = self.loss {
            parts.push(format!("loss {l:.4}"));
        }
        if parts.is_empty() {
            "starting".into()
        } else {
            parts.join("  ")
        }
    }
}

pub struct SweepProgress {
    bars: Option<(MultiProgress, ProgressBar)>,
    lines: HashMap<JobRef, (JobLine, Option<ProgressBar>)>,
    total: usize,
    done: usize,
    failed: usize,
}

impl SweepProgress {
    /// `total`: the runs this invocation executes. Bars only when stderr is a terminal and
    /// `plain` is false.
    pub fn new(total: usize, plain: bool) -> Self {
        let bars = (!plain && std::io::stderr().is_terminal()).then(|| {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            let overall = mp.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} runs  {msg}  ETA {eta}  ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            overall.set_prefix("sweep");
            overall.enable_steady_tick(Duration::from_millis(500));
            (mp, overall)
        });
        let p = Self {
            bars,
            lines: HashMap::new(),
            total,
            done: 0,
            failed: 0,
        };
        p.refresh_overall();
        p
    }

    fn running(&self) -> usize {
        self.lines
            .keys()
            .filter(|k| matches!(k, JobRef::Run(_)))
            .count()
    }

    fn counts(&self) -> String {
        format!(
            "done {} · running {} · failed {}",
            self.done,
            self.running(),
            self.failed
        )
    }

    fn refresh_overall(&self) {
        if let Some((_, overall)) = &self.bars {
            overall.set_position((self.done + self.failed) as u64);
            overall.set_message(self.counts());
        }
    }

    /// A line above the bars (or on stderr).
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((mp, _)) => {
                let _ = mp.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn job_started(&mut self, job: JobRef, label: &str, device: &str) {
        let line = JobLine {
            label: label.to_string(),
            ..Default::default()
        };
        let bar = self.bars.as_ref().map(|(mp, _)| {
            let b = mp.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  {spinner} {prefix:40!} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(label.to_string());
            b.set_message(line.text());
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        if bar.is_none() {
            eprintln!("[{}] start {label} on {device}", self.position());
        }
        self.lines.insert(job, (line, bar));
        self.refresh_overall();
    }

    fn position(&self) -> String {
        format!("{}/{}", self.done + self.failed, self.total)
    }

    pub fn job_event(&mut self, job: JobRef, e: &WorkerEvent) {
        let plain = self.bars.is_none();
        let Some((line, bar)) = self.lines.get_mut(&job) else {
            return;
        };
        match e {
            WorkerEvent::TaskStarted { task, tasks } => {
                line.task = Some((*task, *tasks));
                line.epoch = None;
                line.batch = None;
            }
            WorkerEvent::Progress {
                task,
                epoch,
                epochs,
                batch,
                batches,
                loss,
            } => {
                if line.task.is_none_or(|(t, _)| t != *task) {
                    line.task = Some((*task, line.task.map_or(0, |(_, n)| n)));
                }
                line.epoch = Some((*epoch, *epochs));
                line.batch = Some((*batch, *batches));
                line.loss = Some(*loss);
            }
            WorkerEvent::Resumed {
                tasks_done,
                tasks,
                epochs_done,
            } if plain => {
                let within = if *epochs_done > 0 {
                    format!(" and epoch {epochs_done} of task {}", tasks_done + 1)
                } else {
                    String::new()
                };
                eprintln!(
                    "  {}: resumed after task {tasks_done}/{tasks}{within} from its checkpoints",
                    line.label
                );
            }
            WorkerEvent::Epoch(r) => {
                line.loss = Some(r.train_loss);
                if plain {
                    let tasks = line.task.map_or(String::new(), |(_, n)| format!("/{n}"));
                    let epochs = line.epoch.map_or(String::new(), |(_, n)| format!("/{n}"));
                    eprintln!(
                        "  {}: task {}{tasks} epoch {}{epochs} loss {:.4} train acc {:.1}%",
                        line.label, r.task, r.epoch, r.train_loss, r.train_acc
                    );
                }
            }
            _ => {}
        }
        if let Some(b) = bar {
            b.set_message(line.text());
        }
    }

    /// A job ended: `ok` with a one-line summary, or failed with its error.
    pub fn job_ended(&mut self, job: JobRef, ok: bool, summary: &str) {
        let label = match self.lines.remove(&job) {
            Some((line, bar)) => {
                if let Some(b) = bar {
                    b.finish_and_clear();
                    if let Some((mp, _)) = &self.bars {
                        mp.remove(&b);
                    }
                }
                line.label
            }
            None => String::new(),
        };
        if let JobRef::Run(_) = job {
            if ok {
                self.done += 1;
            } else {
                self.failed += 1;
            }
        }
        let verb = if ok { "done" } else { "FAILED" };
        self.println(&format!("[{}] {verb} {label}: {summary}", self.position()));
        self.refresh_overall();
    }

    /// A run that failed without running (its base failed).
    pub fn run_failed_unstarted(&mut self, label: &str, error: &str) {
        self.failed += 1;
        self.println(&format!("[{}] FAILED {label}: {error}", self.position()));
        self.refresh_overall();
    }

    /// A failed attempt that will be retried.
    pub fn retrying(&mut self, job: JobRef, error: &str, attempt: u32, of: u32) {
        let label = self.close_line(job);
        self.println(&format!(
            "retry {label} (attempt {attempt} of {of} failed: {error})"
        ));
        self.refresh_overall();
    }

    /// A job stopped to be requeued (`reason`); it starts again, continuing its run.
    pub fn requeued(&mut self, job: JobRef, reason: &str, requeue: u32, of: u32) {
        let label = self.close_line(job);
        self.println(&format!(
            "requeue {label} ({reason}; requeue {requeue} of at most {of}, resuming after its last finished task)"
        ));
        self.refresh_overall();
    }

    /// Removes a job's line (and bar); its label.
    fn close_line(&mut self, job: JobRef) -> String {
        match self.lines.remove(&job) {
            Some((line, bar)) => {
                if let Some(b) = bar {
                    b.finish_and_clear();
                    if let Some((mp, _)) = &self.bars {
                        mp.remove(&b);
                    }
                }
                line.label
            }
            None => String::new(),
        }
    }

    pub fn finish(&self) {
        if let Some((mp, overall)) = &self.bars {
            overall.finish_and_clear();
            let _ = mp.clear();
        }
    }
}

/// Reads the new complete lines of a growing events file.
#[derive(Debug, Default)]
pub struct EventTail {
    offset: u64,
    partial: Vec<u8>,
}

impl EventTail {
    /// Events appended since the last call.
    pub fn read_new(&mut self, path: &std::path::Path) -> Vec<WorkerEvent> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Rewritten (a retry): start over.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut events = Vec::new();
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            if let Ok(e) = serde_json::from_slice::<WorkerEvent>(&line) {
                events.push(e);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn event_tail_reads_only_complete_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        let mut tail = EventTail::default();
        assert!(tail.read_new(&p).is_empty());
        write!(
            f,
            "{{\"event\":\"task_started\",\"task\":1,\"tasks\":3}}\n{{\"event\":\"task_st"
        )
        .unwrap();
        f.flush().unwrap();
        let e = tail.read_new(&p);
        assert_eq!(e, vec![WorkerEvent::TaskStarted { task: 1, tasks: 3 }]);
        writeln!(f, "arted\",\"task\":2,\"tasks\":3}}").unwrap();
        f.flush().unwrap();
        assert_eq!(
            tail.read_new(&p),
            vec![WorkerEvent::TaskStarted { task: 2, tasks: 3 }]
        );
    }
}
