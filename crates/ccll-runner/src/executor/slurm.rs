//! Slurm executor: every batch of ready jobs becomes one `sbatch --array=0-K` (split at
//! [`MAX_ARRAY`]), whose batch script is a fixed template: it `exec`s the absolute path of this
//! ccll binary as `worker --job-list LIST --index $SLURM_ARRAY_TASK_ID --redirect-log`. No
//! config value ever appears in the script or on a command line: the jobs travel in the JSON
//! list, the generated paths are checked (absolute, no quote, newline or `%`) and
//! single-quoted, and sbatch/squeue/scancel are run with argument vectors, never through a
//! shell.
//!
//! States come from `squeue -h -t all -r -j IDS -o '%i|%T'` (no slurmdbd needed, so no sacct);
//! the outcome itself from the job's directory, like a local job. Array ids the runner is
//! responsible for are kept in `.slurm/active.json`, so that a runner that was killed can
//! cancel its leftovers before it starts again.

use super::{Exit, LaunchError, Started};
use crate::job::Job;
use crate::plan::JobRef;
use ccll_core::Placement;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Array tasks per `sbatch` (Slurm's default MaxArraySize is 1001).
pub const MAX_ARRAY: usize = 1000;
const ACTIVE_FILE: &str = "active.json";
/// A job missing from squeue this long after submission has vanished.
const VANISH_GRACE: Duration = Duration::from_secs(60);

/// sbatch options from the command line.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time`, e.g. `04:00:00` or `1-00:00:00`.
    pub time: Option<String>,
    /// `--gres`, e.g. `gpu:1`; workers then use `cuda:0`. Only passed when given.
    pub gres: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    /// Seconds before the time limit (or a preemption) at which Slurm sends the worker SIGUSR2
    /// (`--signal=B:USR2@N`: to the batch shell, which is the worker, as the script `exec`s
    /// it); 0: no signal.
    pub signal_before: u32,
    /// How often squeue is asked.
    pub poll: Duration,
}

impl SlurmOptions {
    /// Checks option values (they are passed as single arguments, so this is about catching
    /// typos early, not about injection).
    pub fn validate(&self) -> Result<(), String> {
        let plain = |name: &str, v: &Option<String>| -> Result<(), String> {
            match v {
                Some(s)
                    if s.is_empty()
                        || !s.chars().all(|c| {
                            c.is_ascii_alphanumeric()
                                || matches!(c, '_' | '-' | ':' | '.' | ',' | '=' | '+')
                        }) =>
                {
                    Err(format!(
                        "--{name} `{s}`: only letters, digits and _-:.,=+ are allowed"
                    ))
                }
                _ => Ok(()),
            }
        };
        plain("partition", &self.partition)?;
        plain("account", &self.account)?;
        plain("gres", &self.gres)?;
        plain("mem", &self.mem)?;
        if let Some(t) = &self.time {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
                && t.chars().next().is_some_and(|c| c.is_ascii_digit());
            if !ok {
                return Err(format!("--time `{t}`: use minutes, HH:MM:SS or D-HH:MM:SS"));
            }
        }
        if self.cpus_per_task == Some(0) {
            return Err("--cpus-per-task must be at least 1".into());
        }
        Ok(())
    }

    /// The sbatch options that are set, as (option name, value): passed as `--NAME=VALUE`.
    pub fn sbatch_settings(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        [
            ("partition", self.partition.clone()),
            ("account", self.account.clone()),
            ("time", self.time.clone()),
            ("gres", self.gres.clone()),
            ("mem", self.mem.clone()),
            ("cpus-per-task", self.cpus_per_task.map(|c| c.to_string())),
            (
                "signal",
                (self.signal_before > 0).then(|| format!("B:USR2@{}", self.signal_before)),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// Whether workers get a GPU (`--gres` asks for one).
    pub fn uses_gpu(&self) -> bool {
        self.gres.as_deref().is_some_and(|g| g.contains("gpu"))
    }
}

/// Checks a path that goes into the batch script or an sbatch option.
pub fn safe_path(p: &Path) -> Result<String, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("{}: not UTF-8", p.display()))?;
    if !p.is_absolute() {
        return Err(format!("{s}: not an absolute path"));
    }
    if s.chars()
        .any(|c| c == '\'' || c == '%' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "{s}: a path with a quote, `%`, backslash or control character cannot be given to Slurm; use another --runs-dir"
        ));
    }
    Ok(s.to_string())
}

/// The batch script: fixed text around two checked, single-quoted paths.
pub fn batch_script(exe: &str, list: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by `ccll sweep`: array task i runs job i of the list.\n\
         exec '{exe}' worker --job-list '{list}' --index \"$SLURM_ARRAY_TASK_ID\" --redirect-log\n"
    )
}

struct Task {
    job: JobRef,
    submitted: Instant,
    seen: bool,
    output: PathBuf,
}

pub struct SlurmExecutor {
    exe: PathBuf,
    dir: PathBuf,
    sweep: String,
    opts: SlurmOptions,
    batches: usize,
    /// (array job id, index) -> task.
    tasks: BTreeMap<(u64, usize), Task>,
    last_poll: Option<Instant>,
}

impl SlurmExecutor {
    /// `dir`: the sweep's `.slurm` folder.
    pub fn new(exe: PathBuf, dir: PathBuf, sweep: &str, opts: SlurmOptions) -> Self {
        Self {
            exe,
            dir,
            sweep: sweep.to_string(),
            opts,
            batches: 0,
            tasks: BTreeMap::new(),
            last_poll: None,
        }
    }

    pub fn free_slots(&self) -> usize {
        usize::MAX / 2
    }

    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    pub fn describe(&self) -> String {
        let mut parts = vec!["slurm".to_string()];
        parts.extend(self.opts.sbatch_settings().map(|(k, v)| format!("{k}={v}")));
        parts.join(" ")
    }

    pub async fn launch(&mut self, jobs: Vec<(JobRef, Job)>) -> Vec<Result<Started, LaunchError>> {
        let mut out = Vec::new();
        let mut rest = jobs;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(MAX_ARRAY));
            let chunk = std::mem::replace(&mut rest, tail);
            out.extend(self.submit(chunk).await);
        }
        out
    }

    /// Submits one array of `jobs`: per job, the array task it became, or why none did.
    async fn submit(&mut self, jobs: Vec<(JobRef, Job)>) -> Vec<Result<Started, LaunchError>> {
        let refs: Vec<JobRef> = jobs.iter().map(|(r, _)| *r).collect();
        let submitted = match self.write_array(jobs) {
            Ok((script, dir_s, cwd, n)) => self.sbatch(&script, &dir_s, &cwd, n).await,
            Err(e) => Err(e),
        };
        let array_id = match submitted {
            Ok(id) => id,
            Err(reason) => {
                return refs
                    .iter()
                    .map(|r| {
                        Err(LaunchError {
                            job: *r,
                            reason: reason.clone(),
                        })
                    })
                    .collect()
            }
        };
        let now = Instant::now();
        for (i, r) in refs.iter().enumerate() {
            self.tasks.insert(
                (array_id, i),
                Task {
                    job: *r,
                    submitted: now,
                    seen: false,
                    output: self.dir.join(format!("slurm-{array_id}_{i}.out")),
                },
            );
        }
        self.save_active();
        refs.iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Started {
                    job: *r,
                    device: format!("slurm {array_id}_{i}"),
                })
            })
            .collect()
    }

    /// Writes the array's job list (each job given the allocation's device and CPUs) and its
    /// batch script; returns the script, the array directory and working directory as
    /// checked argv-safe paths, and the number of tasks.
    fn write_array(
        &mut self,
        jobs: Vec<(JobRef, Job)>,
    ) -> Result<(PathBuf, String, String, usize), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        self.batches += 1;
        let stem = format!("batch-{}-{}", std::process::id(), self.batches);
        let list_path = self.dir.join(format!("{stem}.jobs.json"));
        let script_path = self.dir.join(format!("{stem}.sh"));
        let device = if self.opts.uses_gpu() {
            "cuda:0"
        } else {
            "cpu"
        };
        let threads = self.opts.cpus_per_task.unwrap_or(1) as usize;
        let list: Vec<Job> = jobs
            .into_iter()
            .map(|(_, mut j)| {
                j.placement = Placement {
                    device: device.into(),
                    threads,
                };
                j
            })
            .collect();
        let exe = safe_path(&self.exe)?;
        let list_s = safe_path(&list_path)?;
        let dir_s = safe_path(&self.dir)?;
        let cwd = safe_path(&crate::layout::absolute(Path::new(".")))?;
        serde_json::to_vec_pretty(&list)
            .map_err(|e| e.to_string())
            .and_then(|b| std::fs::write(&list_path, b).map_err(|e| e.to_string()))
            .and_then(|()| {
                std::fs::write(&script_path, batch_script(&exe, &list_s)).map_err(|e| e.to_string())
            })
            .map_err(|e| format!("writing the array files in {dir_s}: {e}"))?;
        Ok((script_path, dir_s, cwd, list.len()))
    }

    /// Runs `sbatch` for an array of `tasks` tasks; the array's job id.
    async fn sbatch(
        &self,
        script: &Path,
        dir_s: &str,
        cwd: &str,
        tasks: usize,
    ) -> Result<u64, String> {
        let mut args = vec![
            "--parsable".to_string(),
            format!("--array=0-{}", tasks - 1),
            format!("--job-name=ccll-{}", self.sweep),
            format!("--output={dir_s}/slurm-%A_%a.out"),
            format!("--chdir={cwd}"),
            // A preempted or failed node's job goes back to the queue; its worker resumes.
            "--requeue".to_string(),
        ];
        args.extend(
            self.opts
                .sbatch_settings()
                .map(|(k, v)| format!("--{k}={v}")),
        );
        args.push(script.to_string_lossy().into_owned());
        let o = Command::new("sbatch")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run sbatch: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "sbatch failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&o.stdout);
        text.trim()
            .split(';')
            .next()
            .and_then(|id| id.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("sbatch said `{}`, not a job id", text.trim()))
    }

    fn array_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.tasks.keys().map(|(a, _)| *a).collect();
        ids.dedup();
        ids
    }

    fn save_active(&self) {
        let path = self.dir.join(ACTIVE_FILE);
        let ids = self.array_ids();
        let _ = if ids.is_empty() {
            std::fs::remove_file(&path).or(Ok::<(), std::io::Error>(()))
        } else {
            std::fs::write(&path, serde_json::to_vec(&ids).unwrap_or_default())
        };
    }

    pub async fn poll(&mut self) -> Vec<Exit> {
        if self.tasks.is_empty() || self.last_poll.is_some_and(|t| t.elapsed() < self.opts.poll) {
            return Vec::new();
        }
        self.last_poll = Some(Instant::now());
        let states = match squeue(&self.array_ids()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("squeue: {e}");
                // One array may have been purged; ask one by one.
                let mut all = HashMap::new();
                for id in self.array_ids() {
                    if let Ok(s) = squeue(&[id]).await {
                        all.extend(s);
                    }
                }
                all
            }
        };
        let mut exits = Vec::new();
        let keys: Vec<(u64, usize)> = self.tasks.keys().copied().collect();
        for key in keys {
            let ended = match states.get(&key) {
                Some(state) => {
                    if let Some(t) = self.tasks.get_mut(&key) {
                        t.seen = true;
                    }
                    terminal(state).map(|ok| (ok, format!("Slurm state {state}")))
                }
                None => {
                    let t = &self.tasks[&key];
                    (t.seen || t.submitted.elapsed() > VANISH_GRACE)
                        .then(|| (false, "the job vanished from the Slurm queue".to_string()))
                }
            };
            if let Some((success, how)) = ended {
                if let Some(t) = self.tasks.remove(&key) {
                    exits.push(Exit {
                        job: t.job,
                        success,
                        how,
                        extra_log: Some(t.output),
                    });
                }
            }
        }
        if !exits.is_empty() {
            self.save_active();
        }
        exits
    }

    pub async fn cancel_all(&mut self) {
        let ids = self.array_ids();
        cancel_and_wait(&ids).await;
        self.tasks.clear();
        self.save_active();
    }
}

/// Whether a Slurm state is final, and if so whether it is success.
fn terminal(state: &str) -> Option<bool> {
    match state {
        "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "REQUEUED"
        | "REQUEUE_FED" | "REQUEUE_HOLD" | "RESIZING" | "SIGNALING" | "STAGE_OUT" | "STOPPED"
        | "RESV_DEL_HOLD" => None,
        "COMPLETED" => Some(true),
        _ => Some(false),
    }
}

/// States of the array tasks of `ids`: (array id, index) -> state.
async fn squeue(ids: &[u64]) -> Result<HashMap<(u64, usize), String>, String> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let out = Command::new("squeue")
        .args(["-h", "-t", "all", "-r", "-j", &list, "-o", "%i|%T"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run squeue: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `ID_INDEX|STATE` lines; other lines (a job that is not an array) are skipped.
pub fn parse_squeue(text: &str) -> HashMap<(u64, usize), String> {
    text.lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once('|')?;
            let (a, i) = id.split_once('_')?;
            Some(((a.parse().ok()?, i.parse().ok()?), state.trim().to_string()))
        })
        .collect()
}

/// scancel the arrays and wait (up to a minute) until none of their tasks is still active.
async fn cancel_and_wait(ids: &[u64]) {
    if ids.is_empty() {
        return;
    }
    let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let _ = Command::new("scancel")
        .args(&list)
        .stdin(Stdio::null())
        .output()
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match squeue(ids).await {
            Ok(states) if states.values().all(|s| terminal(s).is_some()) => return,
            Err(_) => return,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Cancels the Slurm arrays a killed runner of this sweep left behind (`.slurm/active.json`)
/// and waits until they have stopped, so that none of them writes into a run directory that
/// this runner is about to reuse. Returns how many arrays there were.
pub async fn cancel_leftovers(dir: &Path) -> usize {
    let path = dir.join(ACTIVE_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return 0;
    };
    let ids: Vec<u64> = serde_json::from_str(&text).unwrap_or_default();
    if !ids.is_empty() && which("scancel") {
        cancel_and_wait(&ids).await;
    }
    let _ = std::fs::remove_file(&path);
    ids.len()
}

/// Whether a program is on PATH.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_parse() {
        let s = parse_squeue("12_0|COMPLETED\n12_1|RUNNING\n13|PENDING\n12_[2-3]|PENDING\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[&(12, 0)], "COMPLETED");
        assert_eq!(terminal("RUNNING"), None);
        assert_eq!(terminal("COMPLETED"), Some(true));
        assert_eq!(terminal("OUT_OF_MEMORY"), Some(false));
    }

    #[test]
    fn paths_and_options_are_checked() {
        assert!(safe_path(Path::new("/a/b c/d")).is_ok());
        assert!(safe_path(Path::new("relative")).is_err());
        assert!(safe_path(Path::new("/a/'; rm -rf /")).is_err());
        assert!(safe_path(Path::new("/a/%j")).is_err());
        assert!(safe_path(Path::new("/a/b\nc")).is_err());
        let script = batch_script("/bin/ccll", "/x/l.json");
        assert!(script.contains("exec '/bin/ccll' worker --job-list '/x/l.json'"));
        let mut o = SlurmOptions {
            time: Some("01:00:00".into()),
            gres: Some("gpu:1".into()),
            ..Default::default()
        };
        assert!(o.validate().is_ok());
        assert!(o.uses_gpu());
        o.partition = Some("a;b".into());
        assert!(o.validate().is_err());
        o.partition = None;
        o.time = Some("1h".into());
        assert!(o.validate().is_err());
    }
}
