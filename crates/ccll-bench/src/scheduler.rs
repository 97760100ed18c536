//! Figure 4: the sweep runner's scheduling (placeholder until the runner lands).

use crate::report::{Figure, Target};
use crate::Options;
use std::path::Path;

const SECTION: &str = "4. sweep scheduler";

pub fn run(_opts: &Options, _ccll: Option<&Path>) -> Vec<Figure> {
    vec![Figure::failed(
        SECTION,
        "makespan vs lower bound, 64 jobs on 4 slots",
        Target::AtMost(1.05),
        "not measured yet".into(),
    )]
}
