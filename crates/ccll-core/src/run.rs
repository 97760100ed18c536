//! One lifelong run from config to result: data to the device, the base (trained here, taken
//! from a shared base job, or pretrained elsewhere), every task in turn with an evaluation of
//! all tasks seen so far, checkpoints, and `result.json`.

pub use crate::base_spec::base_key;
use crate::base_spec::BaseSpec;
use crate::checkpoint;
use crate::config::{BaseSource, RunConfig};
use crate::data::DeviceTask;
use crate::device::{device_name, Placement};
use crate::epoch_state::{EpochCheckpoints, EpochState};
use crate::strategy::pretrain::Pretrainer;
use crate::strategy::setup::Setup;
use crate::strategy::{base_file, build_strategy, Strategy};
use crate::task_inference::{
    evaluate_task, primary_rule, Inference, Rule, TagRecorder, TaskEvaluation,
};
use crate::train::{evaluate, task_seed, train_task};
use anyhow::Context;
use ccll_data::{data_root, load_benchmark, Benchmark};
use ccll_results::{
    Artifact, EpochRecord, Metrics, ParamReport, RunResult, TaskInfo, TaskMatrix, WorkerEvent,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;

/// Seed offsets (as task numbers) for what happens before task 1.
const INIT_SEED_TASK: usize = 10_000;
const PRETRAIN_SEED_TASK: usize = 10_001;

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Data root unless the config sets `benchmark.data_root`.
    pub data_root: Option<PathBuf>,
    /// Checkpoints, `config.yaml` and `result.json` go here.
    pub out_dir: PathBuf,
    /// A finished shared base job's directory to start from instead of training the base.
    pub base_dir: Option<PathBuf>,
    /// Device and threads to run on.
    pub placement: Placement,
}

/// What a base job leaves beside its checkpoints (`base.json`, written last: its presence
/// means the job finished).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseManifest {
    pub key: String,
    /// The directory also holds `task1.safetensors` (base trained or fine-tuned on task 1).
    pub includes_task1: bool,
    pub curves: Vec<EpochRecord>,
    pub device: String,
    pub seconds: f64,
}

/// What a run leaves after every finished task, so that an interrupted attempt continues
/// instead of starting over (`progress.json`, written atomically after the task's checkpoints
/// and evaluation). Between tasks nothing else carries over: every task seeds libtorch's
/// generator and builds its optimiser and schedule afresh, and the model's state after task t
/// is what `Strategy::load(dir, t)` restores. With `train.checkpoint_every`, it is also written
/// between epochs of a task, with that task's state ([`InTaskProgress`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    /// The run's config as it computes ([`RunConfig::computation`], YAML): a state is only
    /// resumed by the same config.
    pub config: String,
    /// Tasks trained, checkpointed and evaluated.
    pub tasks_done: usize,
    pub curves: Vec<EpochRecord>,
    pub artifacts: Vec<Artifact>,
    /// The next task, stopped between two of its epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_task: Option<InTaskProgress>,
}

/// A task stopped between two epochs: what [`EpochState`] holds besides its tensors, and the
/// file that holds those.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InTaskProgress {
    /// The task (1-based): always `tasks_done + 1`.
    pub task: usize,
    /// Its epochs trained so far.
    pub curves: Vec<EpochRecord>,
    pub optimizer_steps: i32,
    /// `task<T>.epoch<E>.state.safetensors`, with its sha256.
    pub state: Artifact,
}

impl InTaskProgress {
    /// The state's tensors read back, if the file is still the one recorded (sha256).
    fn read_state(&self) -> anyhow::Result<EpochState> {
        let path = Path::new(&self.state.path);
        let now = checkpoint::artifact("state", path)?;
        anyhow::ensure!(
            now.sha256 == self.state.sha256,
            "{} is not the file recorded in {PROGRESS_FILE} (its sha256 changed)",
            path.display()
        );
        let (tensors, _) = checkpoint::read_tensors(path)?;
        Ok(EpochState {
            records: self.curves.clone(),
            optimizer_steps: self.optimizer_steps,
            tensors,
        })
    }
}

/// The file of task `task`'s (1-based) state after `epochs` epochs.
fn in_task_state_file(dir: &Path, task: usize, epochs: usize) -> PathBuf {
    dir.join(format!("task{task}.epoch{epochs}.state.safetensors"))
}

/// Removes the in-task state files in `dir` but `keep`: once a later state is recorded, or
/// the task is finished, they are not needed.
fn remove_in_task_states(dir: &Path, keep: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        let is_state = name.starts_with("task") && name.ends_with(".state.safetensors");
        if is_state && Some(path.as_path()) != keep {
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!("{}: cannot remove it: {err}", path.display());
            }
        }
    }
}

impl RunProgress {
    /// The in-task state of the task after the finished ones, if there is a sound one (a
    /// damaged or replaced file is not used: that task starts over, said in the log).
    fn next_task_state(&self) -> Option<EpochState> {
        let next = self.tasks_done + 1;
        let s = self.in_task.as_ref().filter(|s| s.task == next)?;
        match s.read_state() {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!("in-task state not used ({e:#}); task {next} starts over");
                None
            }
        }
    }

    /// The resumable state in `dir` for `config` (see [`RunProgress::config`]), if there is
    /// one that belongs to it and whose checkpoint files are all there.
    pub fn read(dir: &Path, config: &str) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(PROGRESS_FILE)).ok()?;
        let p: RunProgress = match serde_json::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    "{}: unreadable ({e}); starting over",
                    dir.join(PROGRESS_FILE).display()
                );
                return None;
            }
        };
        let files_there = p.artifacts.iter().all(|a| Path::new(&a.path).is_file());
        let anything = p.tasks_done > 0 || p.in_task.is_some();
        (p.config == config && anything && files_there).then_some(p)
    }
}

pub const PROGRESS_FILE: &str = "progress.json";
pub const BASE_MANIFEST: &str = "base.json";
pub const RESULT_FILE: &str = "result.json";
pub const CONFIG_FILE: &str = "config.yaml";

fn load_data(cfg: &RunConfig, opts_root: Option<&Path>) -> anyhow::Result<Benchmark> {
    let root = data_root(cfg.benchmark.data_root.as_deref().or(opts_root));
    Ok(load_benchmark(&cfg.benchmark, &root)?)
}

fn build(cfg: &RunConfig, bench: &Benchmark, device: Device) -> anyhow::Result<Box<dyn Strategy>> {
    tch::manual_seed(task_seed(cfg.train.seed, INIT_SEED_TASK));
    let classes = bench.tasks.iter().map(|t| t.num_classes() as i64).collect();
    Ok(build_strategy(&cfg.strategy_context(
        device,
        bench.image_shape,
        classes,
    ))?)
}

/// A run's working set: its data on the device and its strategy, built from a config. `run`
/// drives it task by task; tests and `reevaluate` use it directly.
pub struct Session {
    pub config: RunConfig,
    pub bench: Benchmark,
    pub data: Vec<DeviceTask>,
    pub strategy: Box<dyn Strategy>,
    pub device: Device,
}

impl Session {
    pub fn new(
        cfg: &RunConfig,
        data_root: Option<&Path>,
        placement: &Placement,
    ) -> anyhow::Result<Self> {
        let device = placement.apply().map_err(anyhow::Error::msg)?;
        let bench = load_data(cfg, data_root)?;
        let data = DeviceTask::all_of(&bench, device);
        let strategy = build(cfg, &bench, device)?;
        Ok(Self {
            config: cfg.clone(),
            bench,
            data,
            strategy,
            device,
        })
    }

    pub fn tasks(&self) -> usize {
        self.data.len()
    }

    /// Trains task `task` (0-based) for its configured number of epochs.
    pub fn train(
        &mut self,
        task: usize,
        events: &mut dyn FnMut(WorkerEvent),
    ) -> anyhow::Result<Vec<EpochRecord>> {
        self.train_with_checkpoints(task, events, None)
    }

    /// [`Session::train`], continuing from an in-task state and capturing them (see
    /// [`train_task`]).
    pub fn train_with_checkpoints(
        &mut self,
        task: usize,
        events: &mut dyn FnMut(WorkerEvent),
        checkpoints: Option<EpochCheckpoints>,
    ) -> anyhow::Result<Vec<EpochRecord>> {
        let epochs = if task == 0 {
            self.config.base_epochs()
        } else {
            self.config.train.epochs
        };
        Ok(train_task(
            self.strategy.as_mut(),
            task,
            &self.data,
            &self.config.train,
            epochs,
            events,
            checkpoints,
        )?)
    }

    /// Tasks `0..=upto` evaluated with their own modules (TAw) and without the task id by
    /// each of `rules` (TAg).
    pub fn evaluate_all(&self, upto: usize, rules: &[Rule]) -> Vec<TaskEvaluation> {
        let batch = self.config.train.eval_batch_size;
        let strategy = self.strategy.as_ref();
        let inference = Inference::new(strategy, upto, rules, &self.data, batch);
        (0..=upto)
            .map(|j| evaluate_task(strategy, j, Some(&inference), &self.data[j], batch))
            .collect()
    }

    /// Accuracy and loss of tasks `0..=upto`, each with its own modules.
    pub fn evaluate_seen(&self, upto: usize) -> (Vec<f64>, Vec<f64>) {
        (0..=upto)
            .map(|j| {
                evaluate(
                    self.strategy.as_ref(),
                    j,
                    &self.data[j],
                    self.config.train.eval_batch_size,
                )
            })
            .unzip()
    }
}

/// Where a run's data came from: the benchmark's files and, for a base pretrained on another
/// benchmark, that benchmark's (so a result on a base from the JPEG-derived CIFAR-10 says so).
fn data_source(cfg: &RunConfig, bench: &Benchmark, opts_root: Option<&Path>) -> String {
    let BaseSource::Benchmark(source) = &cfg.base.source else {
        return bench.source.clone();
    };
    let root = data_root(source.data_root.as_deref().or(opts_root));
    let base = match load_benchmark(source, &root) {
        Ok(b) => b.source,
        Err(e) => format!("not readable now ({e})"),
    };
    format!(
        "{}; base pretrained on {}: {base}",
        bench.source, source.name
    )
}

/// Pretrains a backbone on `base.source` and writes `dir/base.safetensors`.
fn pretrain(
    cfg: &RunConfig,
    source: &ccll_data::BenchmarkConfig,
    target_shape: [i64; 3],
    opts_root: Option<&Path>,
    device: Device,
    dir: &Path,
    events: &mut dyn FnMut(WorkerEvent),
) -> anyhow::Result<Vec<EpochRecord>> {
    let root = data_root(source.data_root.as_deref().or(opts_root));
    let bench = load_benchmark(source, &root)
        .with_context(|| format!("loading base.source `{}`", source.name))?;
    anyhow::ensure!(
        bench.image_shape == target_shape,
        "base.source `{}` has images of shape {:?} but the benchmark `{}` has {:?}; \
         the base must see images of the same shape",
        source.name,
        bench.image_shape,
        cfg.benchmark.name,
        target_shape
    );
    let setup = Setup::pretraining(
        &cfg.model,
        device,
        target_shape,
        bench.tasks.iter().map(|t| t.num_classes() as i64).collect(),
    )?;
    tch::manual_seed(task_seed(cfg.train.seed, PRETRAIN_SEED_TASK));
    let mut p = Pretrainer::new(setup, &source.name);
    let data = DeviceTask::all_of(&bench, device);
    let epochs = cfg.base.epochs.unwrap_or(cfg.base_epochs());
    let mut train_cfg = cfg.train.clone();
    train_cfg.seed = cfg.train.seed.wrapping_add(PRETRAIN_SEED_TASK as u64);
    let curves = train_task(&mut p, 0, &data, &train_cfg, epochs, events, None)?;
    p.save(dir, 0)?;
    Ok(curves
        .into_iter()
        .map(|mut r| {
            r.task = 0; // task 0 = pretraining
            r
        })
        .collect())
}

/// Trains the base that runs with this config share (see [`base_key`]) into `dir`, and
/// writes its manifest last.
pub fn train_base(
    cfg: &RunConfig,
    data_root: Option<&Path>,
    dir: &Path,
    placement: &Placement,
    events: &mut dyn FnMut(WorkerEvent),
) -> anyhow::Result<BaseManifest> {
    let started = Instant::now();
    let spec = BaseSpec::of(cfg).ok_or_else(|| {
        anyhow::anyhow!("method `{}` does not use a shared base", cfg.method.name())
    })?;
    let key = spec.key();
    // Not in the key: how often the job saves its state.
    let checkpoint_every = cfg.train.checkpoint_every.unwrap_or(0);
    // From here on only what the key covers.
    let cfg = &spec.run_config(&cfg.method);
    let computation = serde_yaml::to_string(cfg)?;
    let device = placement.apply().map_err(anyhow::Error::msg)?;
    let bench = load_data(cfg, data_root)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut curves = Vec::new();
    let mut includes_task1 = true;
    let mut strategy = build(cfg, &bench, device)?;
    if let BaseSource::Benchmark(source) = &cfg.base.source {
        curves = pretrain(
            cfg,
            source,
            bench.image_shape,
            data_root,
            device,
            dir,
            events,
        )?;
        includes_task1 = cfg.base.finetune;
        if includes_task1 {
            strategy.load_pretrained_base(&base_file(dir), true)?;
        }
    }
    if includes_task1 {
        let data = DeviceTask::all_of(&bench, device);
        // A killed attempt of this job may have left task 1's in-task state.
        let resume = RunProgress::read(dir, &computation).and_then(|p| p.next_task_state());
        if let Some(state) = &resume {
            events(WorkerEvent::Resumed {
                tasks_done: 0,
                tasks: data.len(),
                epochs_done: state.records.len(),
            });
        }
        events(WorkerEvent::TaskStarted {
            task: 1,
            tasks: data.len(),
        });
        let before = RunProgress {
            config: computation.clone(),
            tasks_done: 0,
            curves: curves.clone(),
            artifacts: Vec::new(),
            in_task: None,
        };
        let mut save = |state: &EpochState| save_in_task_state(dir, 1, state, before.clone());
        let checkpoints = (checkpoint_every > 0 || resume.is_some()).then(|| EpochCheckpoints {
            every: checkpoint_every,
            resume,
            save: &mut save,
        });
        curves.extend(train_task(
            strategy.as_mut(),
            0,
            &data,
            &cfg.train,
            cfg.base_epochs(),
            events,
            checkpoints,
        )?);
        strategy.save(dir, 0)?;
        let _ = std::fs::remove_file(dir.join(PROGRESS_FILE));
        remove_in_task_states(dir, None);
    }
    let manifest = BaseManifest {
        key,
        includes_task1,
        curves,
        device: device_name(device),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_json_atomic(&dir.join(BASE_MANIFEST), &manifest)?;
    Ok(manifest)
}

/// Reads a finished base job's manifest.
pub fn read_base_manifest(dir: &Path) -> anyhow::Result<BaseManifest> {
    let path = dir.join(BASE_MANIFEST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: base job not finished", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: unreadable", path.display()))
}

/// Runs every task of the benchmark and returns (and writes) the result.
///
/// Kept whole (about 100 lines): the order of its steps (base, then per task train, evaluate,
/// checkpoint; `result.json` last, atomically) is what makes a killed run safe to redo, and
/// reads best in one place.
pub fn run(
    cfg: &RunConfig,
    opts: &RunOptions,
    events: &mut dyn FnMut(WorkerEvent),
) -> anyhow::Result<RunResult> {
    let started = Instant::now();
    let mut session = Session::new(cfg, opts.data_root.as_deref(), &opts.placement)?;
    let device = session.device;
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config_text = serde_yaml::to_string(cfg)?;
    let computation = serde_yaml::to_string(&cfg.computation())?;
    let resumed = RunProgress::read(out, &computation).filter(|p| p.tasks_done < session.tasks());
    std::fs::write(out.join(CONFIG_FILE), &config_text)
        .with_context(|| format!("writing {}", out.join(CONFIG_FILE).display()))?;
    let n = session.tasks();
    let image_shape = session.bench.image_shape;
    let mut curves = Vec::new();
    let mut artifacts = Vec::new();
    let mut first = 0;
    let done = resumed.as_ref().map_or(0, |p| p.tasks_done);
    let mut in_task = None;
    if let Some(p) = resumed {
        // The base, and every task up to `done`, come back from this run's own checkpoints;
        // the task after them from its in-task state, if it has a sound one.
        in_task = p.next_task_state();
        events(WorkerEvent::Resumed {
            tasks_done: done,
            tasks: n,
            epochs_done: in_task.as_ref().map_or(0, |s| s.records.len()),
        });
        curves = p.curves;
        artifacts = p.artifacts;
        first = done;
    }
    let checkpoint_every = cfg.train.checkpoint_every.unwrap_or(0);
    match (&opts.base_dir, &cfg.base.source) {
        _ if done > 0 => {}
        (Some(base_dir), _) => {
            let manifest = read_base_manifest(base_dir)?;
            anyhow::ensure!(
                Some(&manifest.key) == base_key(cfg).as_ref(),
                "{}: this base was trained for another configuration",
                base_dir.display()
            );
            curves = manifest.curves;
            if manifest.includes_task1 {
                session.strategy.load(base_dir, 1)?;
                artifacts.extend(link_into(
                    base_dir,
                    out,
                    &["base.safetensors", "task1.safetensors"],
                )?);
                first = 1;
            } else {
                session
                    .strategy
                    .load_pretrained_base(&base_file(base_dir), false)?;
            }
        }
        (None, BaseSource::Benchmark(source)) => {
            let dir = out.join("pretrain");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let root = opts.data_root.as_deref();
            curves = pretrain(cfg, source, image_shape, root, device, &dir, events)?;
            session
                .strategy
                .load_pretrained_base(&base_file(&dir), cfg.base.finetune)?;
        }
        (None, BaseSource::Task1) => {}
    }

    let task_classes: Vec<i64> = session.data.iter().map(|d| d.classes).collect();
    let mut tag = TagRecorder::new(primary_rule(&cfg.method), &task_classes)?;
    let mut acc = TaskMatrix::new();
    let mut loss = TaskMatrix::new();
    for t in 0..n {
        if t < done {
            session.strategy.load(out, t + 1)?;
        } else if t >= first {
            events(WorkerEvent::TaskStarted {
                task: t + 1,
                tasks: n,
            });
            let resume = if t == done { in_task.take() } else { None };
            let mut save = |state: &EpochState| {
                let progress = RunProgress {
                    config: computation.clone(),
                    tasks_done: t,
                    curves: curves.clone(),
                    artifacts: artifacts.clone(),
                    in_task: None,
                };
                save_in_task_state(out, t + 1, state, progress)
            };
            let checkpoints =
                (checkpoint_every > 0 || resume.is_some()).then(|| EpochCheckpoints {
                    every: checkpoint_every,
                    resume,
                    save: &mut save,
                });
            let trained = session.train_with_checkpoints(t, events, checkpoints)?;
            curves.extend(trained);
            artifacts.extend(session.strategy.save(out, t)?);
        }
        let evals = session.evaluate_all(t, tag.rules());
        let a: Vec<f64> = evals.iter().map(|e| e.accuracy).collect();
        let l: Vec<f64> = evals.iter().map(|e| e.loss).collect();
        tag.record_row(t, &evals);
        acc.push_row(&a, n);
        loss.push_row(&l, n);
        // The state first, then the event: a task reported done is a task a rerun keeps.
        if t >= done && t + 1 < n {
            let progress = RunProgress {
                config: computation.clone(),
                tasks_done: t + 1,
                curves: curves.clone(),
                artifacts: artifacts.clone(),
                in_task: None,
            };
            write_json_atomic(&out.join(PROGRESS_FILE), &progress)?;
            remove_in_task_states(out, None);
        }
        events(WorkerEvent::Evaluated {
            after_task: t + 1,
            accuracy: a,
            loss: l,
        });
    }

    let result = RunResult {
        method: cfg.method.name().to_string(),
        benchmark: cfg.benchmark.name.clone(),
        seed: cfg.train.seed,
        tasks: session
            .bench
            .tasks
            .iter()
            .map(|t| TaskInfo {
                name: t.name.clone(),
                classes: t.classes.clone(),
                train_samples: t.train.len(),
                test_samples: t.test.len(),
            })
            .collect(),
        metrics: Metrics::from_matrix(&acc).context("the benchmark has no tasks")?,
        acc_matrix: acc,
        loss_matrix: loss,
        params: param_report(session.strategy.as_ref()),
        data_source: data_source(cfg, &session.bench, opts.data_root.as_deref()),
        curves,
        artifacts,
        device: device_name(device),
        wall_seconds: started.elapsed().as_secs_f64(),
        task_agnostic: Some(tag.finish()),
    };
    tag.write_predictions(out)?;
    write_json_atomic(&out.join(RESULT_FILE), &result)?;
    // The result supersedes the resumable state.
    let _ = std::fs::remove_file(out.join(PROGRESS_FILE));
    remove_in_task_states(out, None);
    Ok(result)
}

/// Writes task `task`'s (1-based) in-task state: its tensors to a file of their own, then
/// `progress` (the run's state before the task) pointing to it, then removes older states; a
/// crash at any point leaves the last complete state in place.
fn save_in_task_state(
    out: &Path,
    task: usize,
    state: &EpochState,
    mut progress: RunProgress,
) -> anyhow::Result<()> {
    let path = in_task_state_file(out, task, state.records.len());
    checkpoint::save_tensors(&state.tensors, &path, &Default::default())?;
    progress.in_task = Some(InTaskProgress {
        task,
        curves: state.records.clone(),
        optimizer_steps: state.optimizer_steps,
        state: checkpoint::artifact("state", &path)?,
    });
    write_json_atomic(&out.join(PROGRESS_FILE), &progress)?;
    remove_in_task_states(out, Some(&path));
    Ok(())
}

/// Evaluates a finished run again from its checkpoints: every task's accuracy and loss with
/// its own modules, as after the last task.
pub fn reevaluate(
    run_dir: &Path,
    data_root: Option<&Path>,
    placement: &Placement,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let cfg = RunConfig::from_recorded_file(&run_dir.join(CONFIG_FILE))?;
    let result: RunResult = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join(RESULT_FILE))
            .with_context(|| format!("{}: no result", run_dir.display()))?,
    )?;
    let mut session = Session::new(&cfg, data_root, placement)?;
    let tasks = result.acc_matrix.rows();
    anyhow::ensure!(tasks > 0, "{}: the run finished no task", run_dir.display());
    session.strategy.load(run_dir, tasks)?;
    let (acc, loss) = session.evaluate_seen(tasks - 1);
    Ok(acc.into_iter().zip(loss).collect())
}

/// Evaluates a finished run again from its checkpoints with and without the task id, as
/// after its last task: every task's TAw result and its inferred tasks by every rule that
/// applies. Runs recorded before task-agnostic evaluation existed work too.
pub fn reevaluate_task_agnostic(
    run_dir: &Path,
    data_root: Option<&Path>,
    placement: &Placement,
) -> anyhow::Result<Vec<TaskEvaluation>> {
    let cfg = RunConfig::from_recorded_file(&run_dir.join(CONFIG_FILE))?;
    let result: RunResult = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join(RESULT_FILE))
            .with_context(|| format!("{}: no result", run_dir.display()))?,
    )?;
    let mut session = Session::new(&cfg, data_root, placement)?;
    let tasks = result.acc_matrix.rows();
    anyhow::ensure!(tasks > 0, "{}: the run finished no task", run_dir.display());
    session.strategy.load(run_dir, tasks)?;
    let classes: Vec<i64> = session.data.iter().map(|d| d.classes).collect();
    Ok(session.evaluate_all(
        tasks - 1,
        &crate::task_inference::applicable_rules(&classes),
    ))
}

/// Hard-links (or copies, across file systems) checkpoint files of a base job into a run.
fn link_into(from: &Path, to: &Path, names: &[&str]) -> anyhow::Result<Vec<Artifact>> {
    names
        .iter()
        .map(|name| {
            let (src, dst) = (from.join(name), to.join(name));
            let _ = std::fs::remove_file(&dst);
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst)
                    .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
            }
            Ok(crate::checkpoint::artifact(
                name.trim_end_matches(".safetensors"),
                &dst,
            )?)
        })
        .collect()
}

/// Writes JSON through a temporary file and a rename, so readers never see half a file.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The parameter report of a strategy's modules as they stand.
pub fn param_report(strategy: &dyn Strategy) -> ParamReport {
    let counts = strategy.param_counts();
    ParamReport::from_counts(counts.backbone, &counts.per_task, strategy.flops())
}

/// Builds a run's model for `tasks` tasks of `classes` classes without training or data, and
/// reports its parameters (what `ccll params` prints).
pub fn param_report_for(
    config: &RunConfig,
    image_shape: [i64; 3],
    task_classes: &[i64],
) -> anyhow::Result<ParamReport> {
    let ctx = config.strategy_context(Device::Cpu, image_shape, task_classes.to_vec());
    let mut strategy = build_strategy(&ctx)?;
    for t in 0..task_classes.len() {
        strategy.begin_task(t)?;
    }
    Ok(param_report(strategy.as_ref()))
}
