//! Local executor: `devices x jobs-per-device` slots, one worker process per job.
//!
//! Each worker is `ccll worker --job DIR/job.json` with stdout and stderr appended to
//! `DIR/worker.log`, `CUDA_VISIBLE_DEVICES` set to its GPU (so it sees `cuda:0`) or emptied
//! for CPU slots, the job's threads (and `OMP_NUM_THREADS`) set to its share of the cores, its
//! own process group (a Ctrl-C on the terminal reaches the runner only, which then stops the
//! workers itself), and `PR_SET_PDEATHSIG = SIGKILL` so that it dies with the runner even when
//! the runner is SIGKILLed: no orphan keeps writing into a run directory that the next runner
//! will reuse.

use super::{Exit, LaunchError, Started};
use crate::job::{Job, JOB_FILE};
use crate::plan::JobRef;
use ccll_core::Placement;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Where a slot runs its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDevice {
    Cpu,
    /// A CUDA device by its index on this machine.
    Cuda(usize),
}

impl SlotDevice {
    pub fn label(self) -> String {
        match self {
            SlotDevice::Cpu => "cpu".into(),
            SlotDevice::Cuda(n) => format!("cuda:{n}"),
        }
    }
}

/// Parses `--devices`: `auto`, `cpu`, or `cuda:0,cuda:1,...`. `cuda_count` is asked only for
/// `auto`.
pub fn parse_devices(
    spec: &str,
    cuda_count: impl FnOnce() -> usize,
) -> Result<Vec<SlotDevice>, String> {
    match spec.trim() {
        "auto" => {
            let n = cuda_count();
            Ok(if n == 0 {
                vec![SlotDevice::Cpu]
            } else {
                (0..n).map(SlotDevice::Cuda).collect()
            })
        }
        "cpu" => Ok(vec![SlotDevice::Cpu]),
        list => {
            let mut out = Vec::new();
            for item in list.split(',') {
                let item = item.trim();
                let d = match item {
                    "cpu" => SlotDevice::Cpu,
                    "cuda" => SlotDevice::Cuda(0),
                    _ => SlotDevice::Cuda(
                        item.strip_prefix("cuda:")
                            .and_then(|n| n.parse().ok())
                            .ok_or_else(|| {
                                format!("--devices: `{item}` is not a device; use auto, cpu or cuda:0,cuda:1,...")
                            })?,
                    ),
                };
                if out.contains(&d) {
                    return Err(format!("--devices: `{item}` is listed twice"));
                }
                out.push(d);
            }
            Ok(out)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub device: SlotDevice,
    pub threads: usize,
    busy: bool,
}

/// Slots for `devices` with `per_device` jobs each; every job gets `threads` threads, or an
/// equal share of `cores` when `threads` is `None`.
pub fn make_slots(
    devices: &[SlotDevice],
    per_device: usize,
    threads: Option<usize>,
    cores: usize,
) -> Vec<Slot> {
    let per_device = per_device.max(1);
    let n = devices.len() * per_device;
    let share = threads.unwrap_or_else(|| (cores / n.max(1)).max(1));
    devices
        .iter()
        .flat_map(|&d| {
            (0..per_device).map(move |_| Slot {
                device: d,
                threads: share,
                busy: false,
            })
        })
        .collect()
}

struct Running {
    job: JobRef,
    slot: usize,
    child: Child,
}

pub struct LocalExecutor {
    exe: PathBuf,
    slots: Vec<Slot>,
    running: Vec<Running>,
    /// Extra environment of every worker (see [`LocalExecutor::with_env`]).
    env: Vec<(String, std::ffi::OsString)>,
}

impl LocalExecutor {
    /// `exe`: the ccll binary that workers run.
    pub fn new(exe: PathBuf, slots: Vec<Slot>) -> Self {
        Self {
            exe,
            slots,
            running: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Sets `key` in every worker's environment; for a benchmark's sleep jobs
    /// (`crate::worker::SLEEP_JOBS_ENV`), without touching the runner's own environment.
    pub fn with_env(mut self, key: &str, value: impl Into<std::ffi::OsString>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| !s.busy).count()
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    pub fn describe(&self) -> String {
        let mut devices: Vec<String> = self.slots.iter().map(|s| s.device.label()).collect();
        devices.dedup();
        format!(
            "local: {} slot{} on {} ({} threads each)",
            self.slots.len(),
            if self.slots.len() == 1 { "" } else { "s" },
            devices.join(", "),
            self.slots.first().map_or(0, |s| s.threads)
        )
    }

    pub fn launch(&mut self, jobs: Vec<(JobRef, Job)>) -> Vec<Result<Started, LaunchError>> {
        jobs.into_iter()
            .map(|(r, job)| self.launch_one(r, job))
            .collect()
    }

    fn launch_one(&mut self, r: JobRef, mut job: Job) -> Result<Started, LaunchError> {
        let Some(slot_idx) = self.slots.iter().position(|s| !s.busy) else {
            return Err(LaunchError {
                job: r,
                reason: "no free slot (internal error)".into(),
            });
        };
        let slot = self.slots[slot_idx].clone();
        job.placement = Placement {
            device: match slot.device {
                SlotDevice::Cpu => "cpu".into(),
                SlotDevice::Cuda(_) => "cuda:0".into(),
            },
            threads: slot.threads,
        };
        let fail = |reason: String| LaunchError { job: r, reason };
        let job_file = job.out_dir.join(JOB_FILE);
        let text = serde_json::to_vec_pretty(&job).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&job_file, text)
            .map_err(|e| fail(format!("writing {}: {e}", job_file.display())))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(job.log_path())
            .map_err(|e| fail(format!("opening {}: {e}", job.log_path().display())))?;
        let log2 = log
            .try_clone()
            .map_err(|e| fail(format!("opening {}: {e}", job.log_path().display())))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("worker")
            .arg("--job")
            .arg(&job_file)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .env("OMP_NUM_THREADS", slot.threads.to_string())
            .env("MKL_NUM_THREADS", slot.threads.to_string())
            .env(
                "CUDA_VISIBLE_DEVICES",
                match slot.device {
                    SlotDevice::Cpu => String::new(),
                    SlotDevice::Cuda(n) => n.to_string(),
                },
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                // The runner may have died between fork and prctl.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| fail(format!("starting {}: {e}", self.exe.display())))?;
        self.slots[slot_idx].busy = true;
        self.running.push(Running {
            job: r,
            slot: slot_idx,
            child,
        });
        Ok(Started {
            job: r,
            device: slot.device.label(),
        })
    }

    pub fn poll(&mut self) -> Vec<Exit> {
        let mut exits = Vec::new();
        let mut i = 0;
        while i < self.running.len() {
            let status = match self.running[i].child.try_wait() {
                Ok(Some(s)) => Some(describe_status(s)),
                Ok(None) => None,
                Err(e) => Some((false, format!("lost track of the worker: {e}"))),
            };
            match status {
                Some((success, how)) => {
                    let done = self.running.swap_remove(i);
                    self.slots[done.slot].busy = false;
                    exits.push(Exit {
                        job: done.job,
                        success,
                        how,
                        extra_log: None,
                    });
                }
                None => i += 1,
            }
        }
        exits
    }

    pub fn cancel_all(&mut self) {
        for r in &mut self.running {
            let _ = r.child.kill();
        }
        for mut r in self.running.drain(..) {
            let _ = r.child.wait();
            self.slots[r.slot].busy = false;
        }
    }
}

fn describe_status(s: std::process::ExitStatus) -> (bool, String) {
    if let Some(code) = s.code() {
        return (code == 0, format!("exit status {code}"));
    }
    match s.signal() {
        Some(libc::SIGKILL) => (
            false,
            "killed by SIGKILL (out of memory, or killed by hand)".into(),
        ),
        Some(libc::SIGSEGV) => (false, "crashed with SIGSEGV".into()),
        Some(libc::SIGABRT) => (false, "aborted (SIGABRT)".into()),
        Some(sig) => (false, format!("killed by signal {sig}")),
        None => (false, format!("ended with {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!(parse_devices("auto", || 0), Ok(vec![SlotDevice::Cpu]));
        assert_eq!(
            parse_devices("auto", || 2),
            Ok(vec![SlotDevice::Cuda(0), SlotDevice::Cuda(1)])
        );
        assert_eq!(
            parse_devices("cuda:1,cuda:3", || unreachable!()),
            Ok(vec![SlotDevice::Cuda(1), SlotDevice::Cuda(3)])
        );
        assert!(parse_devices("gpu0", || 0).is_err());
        assert!(parse_devices("cuda:0,cuda:0", || 0).is_err());
    }

    #[test]
    fn threads_are_shared_between_slots() {
        let s = make_slots(&[SlotDevice::Cpu], 2, None, 8);
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|s| s.threads == 4));
        let s = make_slots(&[SlotDevice::Cuda(0), SlotDevice::Cuda(1)], 3, None, 2);
        assert_eq!(s.len(), 6);
        assert!(s.iter().all(|s| s.threads == 1));
        let s = make_slots(&[SlotDevice::Cpu], 1, Some(3), 2);
        assert_eq!(s[0].threads, 3);
    }
}
