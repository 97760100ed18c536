//! A run interrupted between tasks continues from its `progress.json`: the tasks it finished
//! are restored from its checkpoints (evaluated again, not retrained) and the final result is
//! the uninterrupted run's, bit for bit on CPU, for every method; a state left by another
//! config is not used. With `train.checkpoint_every`, a run interrupted inside a task continues
//! after its last saved epoch, again bit for bit, and saving states changes nothing.

mod common;

use ccll_core::checkpoint::read_tensors;
use ccll_core::generator_state::{generator_state, set_generator_state};
use ccll_core::run::{run, train_base, RunOptions, PROGRESS_FILE};
use ccll_core::{Placement, RunConfig};
use ccll_results::{RunResult, WorkerEvent};
use common::exclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn config(method: &str, epochs: usize) -> RunConfig {
    config_with(method, epochs, "")
}

/// `extra_train`: more keys of `train`, e.g. `, checkpoint_every: 1`.
fn config_with(method: &str, epochs: usize, extra_train: &str) -> RunConfig {
    let yaml = format!(
        "benchmark: {{name: synthetic, tasks: 4, classes_per_task: 2, image_size: 16, channels: 1,
            train_per_class: 32, test_per_class: 16}}
model: {{arch: convnet, width: 8}}
method: {{name: {method}, alpha: 1, beta: 1}}
train: {{epochs: {epochs}, batch_size: 16, lr: 0.05, seed: 3{extra_train}}}
"
    );
    RunConfig::from_yaml(&yaml, "test.yaml").unwrap()
}

fn options(out: &Path, base: Option<&Path>) -> RunOptions {
    RunOptions {
        placement: Placement::cpu(1),
        data_root: None,
        out_dir: out.to_path_buf(),
        base_dir: base.map(Path::to_path_buf),
    }
}

/// Runs `cfg` into `opts.out_dir` and returns the result with the tasks it trained.
fn run_counting(cfg: &RunConfig, opts: &RunOptions) -> (RunResult, Vec<usize>) {
    let mut trained = Vec::new();
    let r = run(cfg, opts, &mut |e| {
        if let WorkerEvent::TaskStarted { task, .. } = e {
            trained.push(task);
        }
    })
    .unwrap();
    (r, trained)
}

/// Starts `cfg` and dies (a panic, as a kill would) when task `die_at` (1-based) starts.
fn run_until_killed(cfg: &RunConfig, opts: &RunOptions, die_at: usize) {
    let killed = catch_unwind(AssertUnwindSafe(|| {
        run(cfg, opts, &mut |e| {
            if matches!(e, WorkerEvent::TaskStarted { task, .. } if task == die_at) {
                panic!("killed at the start of task {die_at}");
            }
        })
    }));
    assert!(killed.is_err(), "the run should have been killed");
}

/// Starts `cfg` and dies when epoch `epoch` of task `task` (1-based) has been reported, before
/// the state after it is saved: the last state on disk is the one after `epoch - 1`.
fn run_until_killed_in_task(cfg: &RunConfig, opts: &RunOptions, task: usize, epoch: usize) {
    let killed = catch_unwind(AssertUnwindSafe(|| {
        run(cfg, opts, &mut |e| {
            if matches!(&e, WorkerEvent::Epoch(r) if r.task == task && r.epoch == epoch) {
                panic!("killed after epoch {epoch} of task {task}");
            }
        })
    }));
    assert!(killed.is_err(), "the run should have been killed");
}

/// The run's result, and the (task, epoch) of every epoch it trained.
fn run_counting_epochs(cfg: &RunConfig, opts: &RunOptions) -> (RunResult, Vec<(usize, usize)>) {
    let mut epochs = Vec::new();
    let r = run(cfg, opts, &mut |e| {
        if let WorkerEvent::Epoch(rec) = e {
            epochs.push((rec.task, rec.epoch));
        }
    })
    .unwrap();
    (r, epochs)
}

/// Everything deterministic of a result (times excluded).
fn same(a: &RunResult, b: &RunResult, what: &str) {
    assert_eq!(a.acc_matrix, b.acc_matrix, "{what}: accuracy");
    assert_eq!(a.loss_matrix, b.loss_matrix, "{what}: loss");
    assert_eq!(a.metrics, b.metrics, "{what}: metrics");
    assert_eq!(a.params, b.params, "{what}: params");
    let curve = |r: &RunResult| {
        r.curves
            .iter()
            .map(|c| (c.task, c.epoch, c.train_loss, c.train_acc, c.lr))
            .collect::<Vec<_>>()
    };
    assert_eq!(curve(a), curve(b), "{what}: curves");
    let tag = |r: &RunResult| {
        r.task_agnostic
            .as_ref()
            .map(|t| {
                t.rules
                    .iter()
                    .map(|x| {
                        (
                            x.rule.clone(),
                            x.acc_matrix.clone(),
                            x.task_id_matrix.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(tag(a), tag(b), "{what}: task-agnostic matrices");
    let kinds = |r: &RunResult| {
        r.artifacts
            .iter()
            .map(|x| x.kind.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(a), kinds(b), "{what}: artifacts");
}

#[test]
fn every_method_resumes_after_its_last_finished_task_bit_for_bit() {
    let _rng = exclusive();
    for method in [
        "ccll",
        "ccll_sc",
        "ccll_sf_sc",
        "head_only",
        "finetune",
        "joint",
        "separate",
        "ewc",
        "lwf",
        "pnn",
        "dgr",
        "hnet",
    ] {
        let cfg = config(method, 2);
        let whole = tempfile::tempdir().unwrap();
        let (uninterrupted, trained) = run_counting(&cfg, &options(whole.path(), None));
        assert_eq!(trained, [1, 2, 3, 4], "{method}");
        assert!(
            !whole.path().join(PROGRESS_FILE).exists(),
            "{method}: progress left"
        );

        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path(), None);
        run_until_killed(&cfg, &opts, 3);
        assert!(
            dir.path().join(PROGRESS_FILE).is_file(),
            "{method}: no progress.json"
        );
        let (resumed, trained) = run_counting(&cfg, &opts);
        assert_eq!(trained, [3, 4], "{method}: tasks 1-2 were finished");
        same(&uninterrupted, &resumed, method);
    }
}

#[test]
fn a_run_from_a_shared_base_resumes_and_another_config_starts_over() {
    let _rng = exclusive();
    let cfg = config("ccll", 2);
    let base = tempfile::tempdir().unwrap();
    train_base(&cfg, None, base.path(), &Placement::cpu(1), &mut |_| {}).unwrap();
    let whole = tempfile::tempdir().unwrap();
    let (uninterrupted, _) = run_counting(&cfg, &options(whole.path(), Some(base.path())));

    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), Some(base.path()));
    run_until_killed(&cfg, &opts, 4);
    let (resumed, trained) = run_counting(&cfg, &opts);
    assert_eq!(trained, [4]);
    same(&uninterrupted, &resumed, "shared base");

    // A state of another config (3 epochs) is not resumed: every task trains again.
    let other = config("ccll", 3);
    let dir = tempfile::tempdir().unwrap();
    run_until_killed(&cfg, &options(dir.path(), None), 3);
    let (_, trained) = run_counting(&other, &options(dir.path(), None));
    assert_eq!(trained, [1, 2, 3, 4]);
}

#[test]
fn every_method_resumes_inside_a_task_after_its_last_saved_epoch_bit_for_bit() {
    let _rng = exclusive();
    for method in [
        "ccll",
        "ccll_sc",
        "ccll_sf_sc",
        "head_only",
        "finetune",
        "joint",
        "separate",
        "ewc",
        "lwf",
        "pnn",
        "dgr",
        "hnet",
    ] {
        // The reference saves no state at all: saving must not change what is computed.
        let whole = tempfile::tempdir().unwrap();
        let (uninterrupted, _) = run_counting(&config(method, 4), &options(whole.path(), None));

        let cfg = config_with(method, 4, ", checkpoint_every: 1");
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path(), None);
        run_until_killed_in_task(&cfg, &opts, 3, 3);
        let states: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".state.safetensors"))
            .collect();
        assert_eq!(
            states,
            ["task3.epoch2.state.safetensors"],
            "{method}: one state kept"
        );
        let (resumed, epochs) = run_counting_epochs(&cfg, &opts);
        assert_eq!(
            epochs,
            [(3, 3), (3, 4), (4, 1), (4, 2), (4, 3), (4, 4)],
            "{method}"
        );
        same(&uninterrupted, &resumed, method);
        let left = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(".state.safetensors")
            })
            .count();
        assert_eq!(left, 0, "{method}: states removed with the result");
    }
}

#[test]
fn an_in_task_state_of_task_1_resumes_and_a_damaged_one_restarts_its_task() {
    let _rng = exclusive();
    let whole = tempfile::tempdir().unwrap();
    let (uninterrupted, _) = run_counting(&config("ccll", 3), &options(whole.path(), None));
    let cfg = config_with("ccll", 3, ", checkpoint_every: 2");

    // Task 1 (the base): nothing finished but two of its epochs.
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), None);
    run_until_killed_in_task(&cfg, &opts, 1, 3);
    let (resumed, epochs) = run_counting_epochs(&cfg, &opts);
    assert_eq!(
        epochs.first(),
        Some(&(1, 3)),
        "continues with epoch 3 of task 1"
    );
    same(&uninterrupted, &resumed, "task 1");

    // A state file that is not the one recorded: that task starts over, the result is the same.
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), None);
    run_until_killed_in_task(&cfg, &opts, 2, 3);
    let state = dir.path().join("task2.epoch2.state.safetensors");
    let mut bytes = std::fs::read(&state).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&state, bytes).unwrap();
    let (resumed, epochs) = run_counting_epochs(&cfg, &opts);
    assert_eq!(epochs.first(), Some(&(2, 1)), "task 2 starts over");
    same(&uninterrupted, &resumed, "damaged state");
}

#[test]
fn a_base_job_killed_inside_task_1_continues_after_its_last_saved_epoch() {
    let _rng = exclusive();
    let whole = tempfile::tempdir().unwrap();
    train_base(
        &config("ccll", 3),
        None,
        whole.path(),
        &Placement::cpu(1),
        &mut |_| {},
    )
    .unwrap();

    let cfg = config_with("ccll", 3, ", checkpoint_every: 1");
    let dir = tempfile::tempdir().unwrap();
    let killed = catch_unwind(AssertUnwindSafe(|| {
        train_base(&cfg, None, dir.path(), &Placement::cpu(1), &mut |e| {
            if matches!(&e, WorkerEvent::Epoch(r) if r.epoch == 3) {
                panic!("killed after epoch 3");
            }
        })
    }));
    assert!(killed.is_err());
    assert!(dir.path().join("task1.epoch2.state.safetensors").is_file());
    let mut epochs = Vec::new();
    let manifest = train_base(&cfg, None, dir.path(), &Placement::cpu(1), &mut |e| {
        if let WorkerEvent::Epoch(r) = e {
            epochs.push(r.epoch);
        }
    })
    .unwrap();
    assert_eq!(epochs, [3], "only the epoch after the saved state");
    assert_eq!(
        manifest.curves.len(),
        3,
        "the saved epochs' records come back"
    );
    for file in ["base.safetensors", "task1.safetensors"] {
        // Tensors, not bytes: the metadata's key order is not fixed.
        let (a, _) = read_tensors(&whole.path().join(file)).unwrap();
        let (b, _) = read_tensors(&dir.path().join(file)).unwrap();
        assert_eq!(a.len(), b.len(), "{file}");
        for (name, t) in &a {
            assert!(
                t.equal(&b[name]),
                "{file}: {name} differs from an uninterrupted job's"
            );
        }
    }
    assert!(!dir.path().join(PROGRESS_FILE).exists());
    assert!(!dir.path().join("task1.epoch2.state.safetensors").exists());
}

// The random generator's state, which in-task states carry (`generator_state.rs`). Here, not
// beside the module: libtorch's generator is global to the process, and the module's tests
// drew from it concurrently with the library's other tests; these take turns (`exclusive`).

#[test]
fn restoring_the_generator_state_repeats_the_draws() {
    let _rng = exclusive();
    tch::manual_seed(7);
    let _ = Tensor::rand([3], (Kind::Float, Device::Cpu));
    let state = generator_state(Device::Cpu).unwrap();
    let first = Tensor::rand([5], (Kind::Float, Device::Cpu));
    let _ = Tensor::randperm(10, (Kind::Int64, Device::Cpu));
    set_generator_state(Device::Cpu, &state).unwrap();
    let again = Tensor::rand([5], (Kind::Float, Device::Cpu));
    assert!(first.equal(&again));
    let other = Tensor::rand([5], (Kind::Float, Device::Cpu));
    assert!(!first.equal(&other));
}

#[test]
fn a_bad_generator_state_is_refused_with_libtorch_reason() {
    let bad = Tensor::zeros([3], (Kind::Uint8, Device::Cpu));
    let e = set_generator_state(Device::Cpu, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot restore the random generator's state"),
        "{e}"
    );
}
