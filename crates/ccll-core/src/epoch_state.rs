//! A task's training stopped between two epochs (`train.checkpoint_every`): every tensor of
//! the strategy, the optimiser's moments and step count, the device's random generator and
//! the task's epoch records so far. [`crate::train::train_task`] captures one after an epoch
//! and restores one before the next, so that a resumed task computes exactly what an
//! uninterrupted one does; `run` writes and reads them beside `progress.json`.

use crate::generator_state::{generator_state, set_generator_state};
use crate::optim::Optimizer;
use crate::strategy::Strategy;
use ccll_results::EpochRecord;
use std::collections::BTreeMap;
use tch::{Device, Tensor};

const MODEL: &str = "model.";
const OPTIMIZER: &str = "optim.";
const GENERATOR: &str = "generator";

/// What an in-task state holds.
pub struct EpochState {
    /// The records of the epochs trained (as many as there were).
    pub records: Vec<EpochRecord>,
    pub optimizer_steps: i32,
    /// `model.<state key>` (every tensor of [`Strategy::state`]), `optim.<slot>.m|v`, and
    /// `generator`.
    pub tensors: BTreeMap<String, Tensor>,
}

/// When to capture states during a task, where they go, and one to continue from.
pub struct EpochCheckpoints<'a> {
    /// Epochs between two states; 0 = none (a `resume` is still used).
    pub every: usize,
    /// The state to continue the task from.
    pub resume: Option<EpochState>,
    /// Writes a captured state (atomically: a state half written must not replace the last).
    pub save: &'a mut dyn FnMut(&EpochState) -> anyhow::Result<()>,
}

impl EpochState {
    /// The state after the epochs of `records`. The tensors are the live ones (shallow):
    /// `save` must write them before training goes on.
    pub fn capture(
        strategy: &dyn Strategy,
        opt: &Optimizer,
        device: Device,
        records: &[EpochRecord],
    ) -> anyhow::Result<Self> {
        let mut tensors: BTreeMap<String, Tensor> = strategy
            .state()
            .into_iter()
            .map(|(k, t)| (format!("{MODEL}{k}"), t))
            .collect();
        let (moments, optimizer_steps) = opt.moments();
        tensors.extend(
            moments
                .into_iter()
                .map(|(k, t)| (format!("{OPTIMIZER}{k}"), t)),
        );
        tensors.insert(GENERATOR.to_string(), generator_state(device)?);
        Ok(Self {
            records: records.to_vec(),
            optimizer_steps,
            tensors,
        })
    }

    /// Puts the state back into a strategy that has begun the same task and an optimiser built
    /// over its trainable tensors: every tensor of the model (the state must hold exactly the
    /// model's tensors, with their shapes), the moments, then the generator.
    pub fn restore(
        &self,
        strategy: &dyn Strategy,
        opt: &mut Optimizer,
        device: Device,
    ) -> anyhow::Result<()> {
        let live = strategy.state();
        let saved_model: BTreeMap<&str, &Tensor> = self
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(MODEL).map(|k| (k, t)))
            .collect();
        if let Some(extra) = saved_model.keys().find(|k| !live.contains_key(**k)) {
            anyhow::bail!("the state holds `{extra}`, which this model does not have");
        }
        for (key, t) in &live {
            let Some(saved) = saved_model.get(key.as_str()) else {
                anyhow::bail!("the state lacks the model's tensor `{key}`");
            };
            anyhow::ensure!(
                saved.size() == t.size(),
                "the state's `{key}` has shape {:?}, the model's {:?}",
                saved.size(),
                t.size()
            );
            let mut t = t.shallow_clone();
            tch::no_grad(|| t.copy_(saved));
        }
        let moments: BTreeMap<String, Tensor> = self
            .tensors
            .iter()
            .filter_map(|(k, t)| {
                k.strip_prefix(OPTIMIZER)
                    .map(|k| (k.to_string(), t.shallow_clone()))
            })
            .collect();
        opt.restore_moments(&moments, self.optimizer_steps)
            .map_err(anyhow::Error::msg)?;
        let Some(generator) = self.tensors.get(GENERATOR) else {
            anyhow::bail!("the state lacks the random generator's state");
        };
        set_generator_state(device, generator)
    }
}
