//! The training loop shared by every method, and evaluation.

use crate::data::DeviceTask;
use crate::epoch_state::{EpochCheckpoints, EpochState};
use crate::optim::{schedule_factor, Optimizer};
use crate::settings::TrainConfig;
use crate::strategy::{StepOutput, Strategy};
use ccll_results::{EpochRecord, WorkerEvent};
use std::time::Instant;
use tch::{Kind, Reduction, Tensor};

/// Batches between two reads of the loss (NaN check, progress); reading synchronises a GPU.
const CHECK_EVERY: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "training diverged: the loss became {loss} at task {task}, epoch {epoch}, batch {batch}; \
         lower train.lr (now {lr}) or train.calibration_lr (now {calibration_lr}), or check \
         the data"
    )]
    NonFinite {
        task: usize,
        epoch: usize,
        batch: usize,
        loss: f64,
        lr: f64,
        calibration_lr: f64,
    },
    #[error("task {task}: method `{method}` has nothing to train")]
    NothingToTrain { task: usize, method: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Seed of libtorch's generator at the start of task `task` (0-based): every task starts
/// from a known state, so a run that resumes from a saved base matches one that trained it.
pub fn task_seed(seed: u64, task: usize) -> i64 {
    let mixed = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(task as u64 + 1)
        .rotate_left(17);
    (mixed >> 1) as i64
}

/// One optimisation step of `task` on a prepared (normalised, augmented) batch: forward and
/// loss, backward, parameter update. The body of [`train_task`]'s loop, public so that the
/// benchmarks time exactly what training runs.
pub fn train_step(
    strategy: &mut dyn Strategy,
    opt: &mut Optimizer,
    x: &Tensor,
    labels: &Tensor,
    task: usize,
) -> StepOutput {
    let out = strategy.training_step(x, labels, task);
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    out
}

/// Trains `task` for `epochs` epochs on the data of the tasks the strategy asks for; with
/// `checkpoints`, continues from its state and captures one every so many epochs.
///
/// Kept whole (about 110 lines): it is the hot loop, and the seeding, shuffling, schedule and
/// divergence check of an epoch must stay in this order for runs to repeat bit for bit.
pub fn train_task(
    strategy: &mut dyn Strategy,
    task: usize,
    data: &[DeviceTask],
    cfg: &TrainConfig,
    epochs: usize,
    events: &mut dyn FnMut(WorkerEvent),
    mut checkpoints: Option<EpochCheckpoints>,
) -> Result<Vec<EpochRecord>, TrainError> {
    tch::manual_seed(task_seed(cfg.seed, task));
    strategy.begin_task(task)?;
    let mut opt = Optimizer::new(cfg, strategy.trainable());
    if opt.is_empty() {
        return Err(TrainError::NothingToTrain {
            task: task + 1,
            method: strategy.name().to_string(),
        });
    }
    let sources = strategy.training_tasks(task);
    let device = data[task].train.images.device();
    let mut records = Vec::with_capacity(epochs);
    if let Some(state) = checkpoints.as_mut().and_then(|c| c.resume.take()) {
        // After begin_task (which builds this task's modules) and the optimiser: the state
        // overwrites what they drew, and the generator continues where it was.
        state.restore(strategy, &mut opt, device)?;
        records = state.records;
    }
    for epoch in records.len()..epochs {
        let started = Instant::now();
        opt.set_lr_factor(cfg, schedule_factor(cfg, epoch, epochs));
        let mut batches: Vec<(usize, Tensor)> = sources
            .iter()
            .flat_map(|&t| {
                data[t]
                    .shuffled_batches(cfg.batch_size)
                    .into_iter()
                    .map(move |b| (t, b))
            })
            .collect();
        if sources.len() > 1 {
            // Interleave the tasks' batches in a random order.
            let order = Vec::<i64>::try_from(Tensor::randperm(
                batches.len() as i64,
                (Kind::Int64, tch::Device::Cpu),
            ))
            .map_err(|e| anyhow::anyhow!(e))?;
            let mut slots: Vec<Option<(usize, Tensor)>> = batches.into_iter().map(Some).collect();
            batches = order
                .iter()
                .filter_map(|&i| slots[i as usize].take())
                .collect();
        }
        let total = batches.len();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        let mut seen = 0i64;
        for (i, (t, idx)) in batches.iter().enumerate() {
            let d = &data[*t];
            let x = d.prepare(&d.train.images.index_select(0, idx), true);
            let y = d.train.labels.index_select(0, idx);
            let out = train_step(strategy, &mut opt, &x, &y, *t);
            let n = y.size()[0];
            seen += n;
            loss_sum += out.loss.detach().to_kind(Kind::Double) * n as f64;
            correct += out.logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64);
            if (i + 1) % CHECK_EVERY == 0 || i + 1 == total {
                let loss = out.loss.double_value(&[]);
                if !loss.is_finite() {
                    return Err(TrainError::NonFinite {
                        task: task + 1,
                        epoch: epoch + 1,
                        batch: i + 1,
                        loss,
                        lr: opt.base_lr(),
                        calibration_lr: opt.calibration_lr(),
                    });
                }
                events(WorkerEvent::Progress {
                    task: task + 1,
                    epoch: epoch + 1,
                    epochs,
                    batch: i + 1,
                    batches: total,
                    loss,
                });
            }
        }
        let seen = seen.max(1) as f64;
        let record = EpochRecord {
            task: task + 1,
            epoch: epoch + 1,
            train_loss: loss_sum.double_value(&[]) / seen,
            train_acc: 100.0 * correct.int64_value(&[]) as f64 / seen,
            lr: opt.base_lr(),
            seconds: started.elapsed().as_secs_f64(),
        };
        events(WorkerEvent::Epoch(record.clone()));
        records.push(record);
        if let Some(c) = checkpoints.as_mut() {
            let done = epoch + 1;
            if c.every > 0 && done % c.every == 0 && done < epochs {
                let state = EpochState::capture(strategy, &opt, device, &records)?;
                (c.save)(&state)?;
            }
        }
    }
    strategy.end_task(task, &data[task])?;
    Ok(records)
}

/// Test accuracy (percent) and mean cross-entropy of `task` with its own modules and head.
pub fn evaluate(
    strategy: &dyn Strategy,
    task: usize,
    data: &DeviceTask,
    batch_size: usize,
) -> (f64, f64) {
    tch::no_grad(|| {
        let device = data.test.images.device();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        for (images, labels) in data.test.ordered_batches(batch_size) {
            let logits = strategy.forward(&data.prepare(&images, false), task, false);
            loss_sum += logits
                .cross_entropy_loss::<Tensor>(&labels, None, Reduction::Sum, -100, 0.0)
                .to_kind(Kind::Double);
            correct += logits.argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64);
        }
        let n = data.test.len().max(1) as f64;
        (
            100.0 * correct.int64_value(&[]) as f64 / n,
            loss_sum.double_value(&[]) / n,
        )
    })
}
