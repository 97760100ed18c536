//! Progress display of one run: a bar per task on a terminal, plain lines otherwise.

use ccll_results::WorkerEvent;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct RunProgress {
    bar: Option<ProgressBar>,
    label: String,
}

impl RunProgress {
    pub fn new(label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30}] {pos}/{len} batches {msg} ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        Self {
            bar,
            label: label.to_string(),
        }
    }

    pub fn event(&mut self, e: &WorkerEvent) {
        match (e, &self.bar) {
            (WorkerEvent::TaskStarted { task, tasks }, Some(b)) => {
                b.set_prefix(format!("{} task {task}/{tasks}", self.label));
                b.set_position(0);
            }
            (
                WorkerEvent::Progress {
                    epoch,
                    epochs,
                    batch,
                    batches,
                    loss,
                    ..
                },
                Some(b),
            ) => {
                b.set_length(*batches as u64);
                b.set_position(*batch as u64);
                b.set_message(format!("epoch {epoch}/{epochs} loss {loss:.4}"));
            }
            (WorkerEvent::Epoch(r), None) => eprintln!(
                "{}: task {} epoch {} loss {:.4} train acc {:.2}% ({:.1} s)",
                self.label, r.task, r.epoch, r.train_loss, r.train_acc, r.seconds
            ),
            (
                WorkerEvent::Evaluated {
                    after_task,
                    accuracy,
                    ..
                },
                bar,
            ) => {
                let line = format!(
                    "{}: after task {after_task}: test accuracy {}",
                    self.label,
                    accuracy
                        .iter()
                        .map(|a| format!("{a:.2}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                match bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            _ => {}
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
