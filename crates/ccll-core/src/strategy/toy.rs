//! `toy`: the example of README "How to add a method", compiled with the tests only.
//! `finetune` with label smoothing: the loss is `(1 - s) CE + s * mean_k(-log p_k)`. It is the
//! whole method: its options, its table row, and the one hook it changes.

use super::trunk::Trunk;
use super::{Method, MethodEntry, MethodInfo, MethodOptions, StepOutput};
use crate::error::KeyError;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

pub static ENTRY: MethodEntry<ToyOptions> = MethodEntry {
    info: MethodInfo {
        name: "toy",
        shares_base: true,
        about: "example: finetune with label smoothing",
    },
    build: |o, ctx| Ok(Box::new(Toy(Trunk::new(ctx, "toy", false)?, *o))),
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<f64>,
}

impl MethodOptions for ToyOptions {
    fn check(&self) -> Result<(), KeyError> {
        match self.smoothing {
            Some(s) if !(0.0..1.0).contains(&s) => Err(KeyError::new(
                "method.smoothing",
                format!("must be in [0, 1), got {s}"),
            )),
            _ => Ok(()),
        }
    }
}

pub struct Toy(Trunk, ToyOptions);

impl Method for Toy {
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

    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let s = self.1.smoothing.unwrap_or(0.1);
        let logits = self.0.logits(x, task, true);
        let uniform = -logits.log_softmax(-1, Kind::Float).mean(Kind::Float);
        let loss = logits.cross_entropy_for_logits(labels) * (1.0 - s) + uniform * s;
        StepOutput { loss, logits }
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{ModelConfig, TrainConfig};
    use crate::strategy::{build_strategy, methods, MethodConfig, StrategyContext};
    use tch::{Device, Kind, Tensor};

    fn section(yaml: &str) -> serde_yaml::Mapping {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_method_added_by_one_file_and_one_row_is_listed_checked_built_and_trained() {
        assert!(methods().iter().any(|m| m.name == "toy"));
        let bad = MethodConfig::from_section(&section("{name: toy, smoothing: 2}")).unwrap_err();
        assert_eq!(bad.key, "method.smoothing");
        let bad = MethodConfig::from_section(&section("{name: toy, smooth: 0.2}")).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "method.smooth: unknown option for method `toy`; its options are: smoothing"
        );
        let method = MethodConfig::from_section(&section("{name: toy, smoothing: 0.5}")).unwrap();
        assert_eq!(
            serde_json::to_string(&method).unwrap(),
            r#"{"name":"toy","smoothing":0.5}"#
        );
        let model = ModelConfig {
            arch: "convnet".into(),
            width: Some(4),
        };
        let ctx = StrategyContext {
            method: &method,
            model: &model,
            train: &TrainConfig::default(),
            device: Device::Cpu,
            image_shape: [1, 16, 16],
            task_classes: vec![2, 2],
        };
        let mut toy = build_strategy(&ctx).unwrap();
        toy.begin_task(0).unwrap();
        let x = Tensor::randn([8, 1, 16, 16], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 0, 1, 0, 1, 0, 1]);
        let out = toy.training_step(&x, &y, 0);
        let ce = f64::try_from(out.logits.cross_entropy_for_logits(&y)).unwrap();
        let loss = f64::try_from(&out.loss).unwrap();
        assert!(loss.is_finite() && (loss - ce).abs() > 1e-6, "{loss} vs {ce}");
        out.loss.backward();
        assert!(toy.trainable()[0].tensors.iter().any(|t| t.grad().defined()));
    }
}
