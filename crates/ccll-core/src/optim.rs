//! SGD (momentum, weight decay) and Adam over groups of tensors with their own learning rates,
//! with PyTorch's update rules. Written here rather than using `tch::nn::Optimizer` because
//! our parameters live in several variable stores (base, each task's modules) and the
//! calibration has its own learning rate.

use crate::settings::{OptimizerKind, ScheduleKind, TrainConfig};
use std::collections::BTreeMap;
use tch::Tensor;

/// Which learning rate a group follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrGroup {
    /// `train.lr`.
    Base,
    /// `train.calibration_lr` (see [`TrainConfig::calibration_lr`]).
    Calibration,
}

/// Tensors optimised together.
pub struct ParamGroup {
    pub tensors: Vec<Tensor>,
    pub lr: LrGroup,
}

impl ParamGroup {
    pub fn new(tensors: Vec<Tensor>, lr: LrGroup) -> Self {
        Self { tensors, lr }
    }
}

struct Slot {
    param: Tensor,
    lr_group: LrGroup,
    kind: OptimizerKind,
    /// SGD momentum buffer, or Adam's first moment.
    m: Option<Tensor>,
    /// Adam's second moment.
    v: Option<Tensor>,
}

pub struct Optimizer {
    momentum: f64,
    weight_decay: f64,
    base_lr: f64,
    calibration_lr: f64,
    slots: Vec<Slot>,
    steps: i32,
}

const ADAM_BETAS: (f64, f64) = (0.9, 0.999);
const ADAM_EPS: f64 = 1e-8;

impl Optimizer {
    pub fn new(cfg: &TrainConfig, groups: Vec<ParamGroup>) -> Self {
        let kind_of = |g: LrGroup| match g {
            LrGroup::Base => cfg.optimizer,
            LrGroup::Calibration => cfg.calibration_optimizer(),
        };
        let slots = groups
            .into_iter()
            .flat_map(|g| {
                let kind = kind_of(g.lr);
                g.tensors.into_iter().map(move |param| Slot {
                    param,
                    lr_group: g.lr,
                    kind,
                    m: None,
                    v: None,
                })
            })
            .collect();
        let me = Self {
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            base_lr: cfg.lr,
            calibration_lr: cfg.calibration_lr(),
            slots,
            steps: 0,
        };
        me.define_grads();
        me
    }

    /// Gives every optimised tensor a (zero) gradient from the start, so that weight decay and
    /// momentum apply to it at every step whether or not a batch used it, as PyTorch's SGD does
    /// with `zero_grad(set_to_none=False)`. Otherwise a tensor (say an old task's head in joint
    /// training) would be skipped until its first gradient in a run that just loaded it, and
    /// updated in a run that trained it before: resumed and uninterrupted runs would differ.
    fn define_grads(&self) {
        let missing: Vec<Tensor> = self
            .slots
            .iter()
            .filter(|s| s.param.requires_grad() && !s.param.grad().defined())
            .map(|s| s.param.sum(tch::Kind::Float) * 0.0)
            .collect();
        if !missing.is_empty() {
            Tensor::stack(&missing, 0).sum(tch::Kind::Float).backward();
        }
    }

    /// Number of tensors being optimised.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Scales both learning rates by `factor` of their configured value (schedules).
    pub fn set_lr_factor(&mut self, cfg: &TrainConfig, factor: f64) {
        self.base_lr = cfg.lr * factor;
        self.calibration_lr = cfg.calibration_lr() * factor;
    }

    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    pub fn calibration_lr(&self) -> f64 {
        self.calibration_lr
    }

    /// The moments by slot (`<i>.m`, `<i>.v`; absent before a slot's first step) and the step
    /// count: what an in-task resumable state keeps of the optimiser.
    pub fn moments(&self) -> (BTreeMap<String, Tensor>, i32) {
        let mut out = BTreeMap::new();
        for (i, s) in self.slots.iter().enumerate() {
            for (name, t) in [("m", &s.m), ("v", &s.v)] {
                if let Some(t) = t {
                    out.insert(format!("{i}.{name}"), t.shallow_clone());
                }
            }
        }
        (out, self.steps)
    }

    /// Restores what [`Optimizer::moments`] gave, into an optimiser built over the same
    /// tensors. Each moment gets its parameter's device and memory layout, as one built by
    /// `step` has.
    pub fn restore_moments(
        &mut self,
        moments: &BTreeMap<String, Tensor>,
        steps: i32,
    ) -> Result<(), String> {
        for (key, saved) in moments {
            let slot = key
                .split_once('.')
                .and_then(|(i, which)| Some((i.parse::<usize>().ok()?, which)));
            let Some((i, which)) = slot.filter(|(i, _)| *i < self.slots.len()) else {
                return Err(format!(
                    "optimiser moment `{key}` does not belong to this model ({} optimised \
                     tensors)",
                    self.slots.len()
                ));
            };
            let s = &mut self.slots[i];
            if saved.size() != s.param.size() {
                return Err(format!(
                    "optimiser moment `{key}` has shape {:?}, its tensor {:?}",
                    saved.size(),
                    s.param.size()
                ));
            }
            let mut buf = s.param.detach().zeros_like();
            tch::no_grad(|| buf.copy_(saved));
            match which {
                "m" => s.m = Some(buf),
                "v" => s.v = Some(buf),
                _ => return Err(format!("unknown optimiser moment `{key}`")),
            }
        }
        self.steps = steps;
        Ok(())
    }

    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    pub fn step(&mut self) {
        self.steps += 1;
        let (base_lr, cal_lr, wd, mom, t) = (
            self.base_lr,
            self.calibration_lr,
            self.weight_decay,
            self.momentum,
            self.steps,
        );
        tch::no_grad(|| {
            for s in &mut self.slots {
                let grad = s.param.grad();
                if !grad.defined() {
                    continue;
                }
                let lr = match s.lr_group {
                    LrGroup::Base => base_lr,
                    LrGroup::Calibration => cal_lr,
                };
                let g = if wd != 0.0 {
                    &grad + &s.param * wd
                } else {
                    grad
                };
                match s.kind {
                    OptimizerKind::Sgd => {
                        let update = if mom != 0.0 {
                            match &mut s.m {
                                Some(buf) => {
                                    let _ = buf.g_mul_scalar_(mom).g_add_(&g);
                                    buf.shallow_clone()
                                }
                                None => {
                                    let buf = g.copy();
                                    s.m = Some(buf.shallow_clone());
                                    buf
                                }
                            }
                        } else {
                            g
                        };
                        let _ = s.param.g_sub_(&(update * lr));
                    }
                    OptimizerKind::Adam => {
                        let (b1, b2) = ADAM_BETAS;
                        let m = s.m.get_or_insert_with(|| g.zeros_like());
                        let _ = m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                        let v = s.v.get_or_insert_with(|| g.zeros_like());
                        let _ = v.g_mul_scalar_(b2).g_add_(&(&g * &g * (1.0 - b2)));
                        let bc1 = 1.0 - b1.powi(t);
                        let bc2 = 1.0 - b2.powi(t);
                        let denom = (&*v / bc2).sqrt() + ADAM_EPS;
                        let _ = s.param.g_sub_(&(&*m / &denom * (lr / bc1)));
                    }
                }
            }
        });
    }
}

/// Learning-rate factor for `epoch` (0-based) of a task with `epochs` epochs.
pub fn schedule_factor(cfg: &TrainConfig, epoch: usize, epochs: usize) -> f64 {
    match cfg.schedule {
        ScheduleKind::Constant => 1.0,
        ScheduleKind::Step => cfg.gamma.powi((epoch / cfg.step_size.max(1)) as i32),
        ScheduleKind::Cosine => {
            0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs.max(1) as f64).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn quadratic_descent(kind: OptimizerKind) -> f64 {
        let p = Tensor::from_slice(&[3.0f32, -2.0]).set_requires_grad(true);
        let cfg = TrainConfig {
            optimizer: kind,
            lr: 0.1,
            momentum: 0.5,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut opt = Optimizer::new(
            &cfg,
            vec![ParamGroup::new(vec![p.shallow_clone()], LrGroup::Base)],
        );
        for _ in 0..100 {
            opt.zero_grad();
            (&p * &p).sum(Kind::Float).backward();
            opt.step();
        }
        f64::try_from(p.abs().max()).unwrap()
    }

    #[test]
    fn sgd_and_adam_minimise_a_quadratic() {
        assert!(quadratic_descent(OptimizerKind::Sgd) < 1e-3);
        assert!(quadratic_descent(OptimizerKind::Adam) < 0.1);
    }

    #[test]
    fn sgd_matches_pytorch_momentum_rule() {
        // PyTorch: buf = g (first step), then buf = m*buf + g; p -= lr*buf.
        let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let cfg = TrainConfig {
            lr: 0.5,
            momentum: 0.9,
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut opt = Optimizer::new(
            &cfg,
            vec![ParamGroup::new(vec![p.shallow_clone()], LrGroup::Base)],
        );
        let mut expect = 1.0f64;
        let mut buf = 0.0f64;
        for step in 0..3 {
            opt.zero_grad();
            (&p * 2.0).sum(Kind::Float).backward(); // grad 2
            opt.step();
            let g = 2.0 + 0.1 * expect;
            buf = if step == 0 { g } else { 0.9 * buf + g };
            expect -= 0.5 * buf;
        }
        let got = f64::try_from(p.to_device(Device::Cpu)).unwrap();
        assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
    }

    #[test]
    fn schedules() {
        let mut cfg = TrainConfig {
            schedule: ScheduleKind::Step,
            step_size: 2,
            gamma: 0.5,
            ..Default::default()
        };
        assert_eq!(schedule_factor(&cfg, 3, 10), 0.5);
        assert_eq!(schedule_factor(&cfg, 4, 10), 0.25);
        cfg.schedule = ScheduleKind::Cosine;
        assert_eq!(schedule_factor(&cfg, 0, 10), 1.0);
        assert!((schedule_factor(&cfg, 5, 10) - 0.5).abs() < 1e-12);
    }
}
