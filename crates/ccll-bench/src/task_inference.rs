//! Figure 6: the cost of inferring the task (no task id at test time) per test image, at T = 6
//! tasks: SupSup's one-shot rule (modules superposed, one forward + one backward over the base)
//! against `min_entropy` (every task's modules, all copies through the base in one stacked
//! pass), and `min_entropy` against task-aware inference (one task's modules).

use crate::report::{Figure, Target};
use crate::timing::alternate;
use crate::Options;
use ccll_core::run::Session;
use ccll_core::task_inference::{evaluate_task, Inference, Rule};
use ccll_core::{Placement, RunConfig};
use tch::Device;

const SECTION: &str = "6. task inference without the task id (T = 6)";
const TASKS: usize = 6;

fn config(arch: &str, width: i64) -> anyhow::Result<RunConfig> {
    let yaml = format!(
        "benchmark: {{name: synthetic, tasks: {TASKS}, classes_per_task: 2, image_size: 32,
            channels: 3, train_per_class: 2, test_per_class: 128}}
model: {{arch: {arch}, width: {width}}}
method: {{name: ccll}}
"
    );
    Ok(RunConfig::from_yaml(&yaml, "task inference benchmark")?)
}

/// A ccll model with all six tasks' modules (untrained: the time does not depend on values).
fn session(arch: &str, width: i64, device: Device) -> anyhow::Result<Session> {
    let placement = Placement {
        device: ccll_core::device::device_name(device),
        threads: 0,
    };
    let mut s = Session::new(&config(arch, width)?, None, &placement)?;
    for t in 0..TASKS {
        s.strategy.begin_task(t)?;
        s.strategy.end_task(t, &s.data[t])?;
    }
    Ok(s)
}

/// Seconds per image of `rule` (None: task-aware) on the last task's test set.
fn per_image(s: &Session, rule: Option<Rule>) -> f64 {
    let data = &s.data[TASKS - 1];
    let images = data.test.len() as f64;
    let rules: Vec<Rule> = rule.into_iter().collect();
    let inference = rule.map(|_| Inference {
        upto: TASKS - 1,
        rules: &rules,
        reference: None,
    });
    let ev = evaluate_task(
        s.strategy.as_ref(),
        TASKS - 1,
        inference.as_ref(),
        data,
        256,
    );
    match ev.rules.first() {
        Some(r) => r.seconds / images,
        None => ev.task_aware_seconds / images,
    }
}

/// Every figure of part 6.
pub fn run(device: Device, opts: &Options) -> Vec<Figure> {
    let dev = ccll_core::device::device_name(device);
    let rounds = match (opts.rounds, opts.quick) {
        (0, true) => 3,
        (0, false) => 7,
        (n, _) => n,
    };
    let mut figures = Vec::new();
    for (arch, width) in [("convnet", 32), ("resnet18_cifar", 20)] {
        let name = format!("{arch} w{width} 32px");
        if !opts.selects(&name) {
            continue;
        }
        eprintln!("[task inference] {name} on {dev}");
        let measured = session(arch, width, device).and_then(|s| {
            let one_shot = alternate(
                rounds,
                || anyhow::Ok(per_image(&s, Some(Rule::OneShot))),
                || anyhow::Ok(per_image(&s, Some(Rule::MinEntropy))),
            )?;
            let entropy = alternate(
                rounds,
                || anyhow::Ok(per_image(&s, Some(Rule::MinEntropy))),
                || anyhow::Ok(per_image(&s, None)),
            )?;
            Ok((one_shot, entropy))
        });
        match measured {
            Ok((one_shot, entropy)) => {
                figures.push(
                    Figure::compared(
                        SECTION,
                        format!("{name}: one_shot vs min_entropy, time per image ({dev})"),
                        "ms/img",
                        one_shot.median_a() * 1e3,
                        one_shot.median_b() * 1e3,
                        one_shot.ratio(),
                        Target::AtMost(1.0),
                    )
                    .note(one_shot.spread()),
                );
                figures.push(
                    Figure::compared(
                        SECTION,
                        format!("{name}: min_entropy vs task-aware, time per image ({dev})"),
                        "ms/img",
                        entropy.median_a() * 1e3,
                        entropy.median_b() * 1e3,
                        entropy.ratio(),
                        Target::None,
                    )
                    .note(entropy.spread()),
                );
            }
            Err(e) => figures.push(Figure::failed(
                SECTION,
                format!("{name} ({dev})"),
                Target::AtMost(1.0),
                format!("{e:#}"),
            )),
        }
    }
    figures
}
