//! `finetune`: one shared trunk trained on every task in turn with plain cross-entropy, one
//! head per task. The heads of finished tasks are frozen while the trunk (weights, BN affine
//! parameters and BN statistics) keeps moving to the new tasks, so old tasks are forgotten:
//! the lower bound of the comparison. No options.

use super::trunk::Trunk;
use super::{Method, MethodEntry, MethodInfo, NoOptions};

pub static ENTRY: MethodEntry<NoOptions> = MethodEntry {
    info: MethodInfo {
        name: "finetune",
        shares_base: true,
        about: "baseline: one trunk trained on each task in turn, a head per task (forgets)",
    },
    build: |_, ctx| Ok(Box::new(Finetune(Trunk::new(ctx, "finetune", false)?))),
};

pub struct Finetune(Trunk);

impl Method for Finetune {
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
}
