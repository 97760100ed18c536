//! `joint`: the upper bound. While task t is trained, the trunk and the heads of tasks 1..t
//! are trained on the data of all tasks so far (the loop interleaves task-homogeneous batches
//! in a random order; a batch of task j goes through head j), continuing from the model after
//! task t-1. This breaks the lifelong setting on purpose: old data is kept. Row t of the
//! accuracy matrix is the joint model after the data of tasks 1..t, so that its tables line up
//! with the other methods'. Epochs count passes over all the data so far, so task t costs
//! about t times task 1. No options.

use super::trunk::Trunk;
use super::{Method, MethodEntry, MethodInfo, NoOptions};

pub static ENTRY: MethodEntry<NoOptions> = MethodEntry {
    info: MethodInfo {
        name: "joint",
        shares_base: true,
        about:
            "baseline (upper bound): trunk and all heads trained on the data of every task so far",
    },
    build: |_, ctx| Ok(Box::new(Joint(Trunk::new(ctx, "joint", true)?))),
};

pub struct Joint(Trunk);

impl Method for Joint {
    type Model = Trunk;

    fn name(&self) -> &str {
        ENTRY.info.name
    }

    fn model(&self) -> &Trunk {
        &self.0
    }

    fn model_mut(&mut self) -> &mut Trunk {
        &mut self.0
    }

    fn training_tasks(&self, task: usize) -> Vec<usize> {
        (0..=task).collect()
    }
}
