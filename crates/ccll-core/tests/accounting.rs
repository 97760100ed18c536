//! Backbones: parameter accounting against independent counts, and inference through the
//! fused kernels against the same network as libtorch's operations.

use ccll_core::config::{MethodConfig, ModelConfig, RunConfig, TrainConfig};
use ccll_core::nn::{Arch, Backbone, Calibration, CalibrationSpec, Fwd};
use ccll_core::run::param_report_for;
use ccll_core::strategy::build_strategy;
use ccll_data::BenchmarkConfig;
use tch::{nn, Device, Kind, Tensor};

fn config(arch: &str, width: i64, method: &str, alpha: i64, beta: i64) -> RunConfig {
    RunConfig {
        benchmark: BenchmarkConfig::named("synthetic"),
        model: ModelConfig {
            arch: arch.into(),
            width: Some(width),
        },
        method: MethodConfig::named(method, Some(alpha), Some(beta)).unwrap(),
        train: TrainConfig::default(),
        base: Default::default(),
    }
}

fn backbone(arch: Arch, channels: i64, width: i64) -> (nn::VarStore, Backbone) {
    let vs = nn::VarStore::new(Device::Cpu);
    let b = Backbone::new(&vs.root(), arch, channels, width);
    (vs, b)
}

#[test]
fn resnet18_has_torchvision_parameter_count_and_names() {
    let (vs, b) = backbone(Arch::ResNet18, 3, 64);
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    // torchvision resnet18: 11,689,512 including the 512 x 1000 + 1000 classifier.
    assert_eq!(params, 11_689_512 - 513_000);
    let names = vs.variables();
    for n in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.bias",
        "layer4.1.bn2.weight",
    ] {
        assert!(names.contains_key(n), "{n}");
    }
    // 17 convs on the main path plus 3 shortcut convs get calibrated.
    assert_eq!(b.calibration_points().len(), 20);
    assert_eq!(vs.variables()["conv1.weight"].size(), vec![64, 3, 7, 7]);
}

#[test]
fn backbones_take_any_channel_count_and_give_pooled_features() {
    for (arch, channels, size, width, dim) in [
        (Arch::ResNet18, 3, 64, 64, 512),
        (Arch::ResNet18, 1, 32, 20, 160),
        (Arch::ResNet18Cifar, 3, 32, 20, 160),
        (Arch::ResNet18Cifar, 4, 32, 8, 64),
        (Arch::ConvNet, 1, 28, 8, 32),
        (Arch::ConvNet, 3, 32, 16, 64),
    ] {
        let (_vs, b) = backbone(arch, channels, width);
        assert_eq!(b.feature_dim(), dim);
        let x = Tensor::randn([2, channels, size, size], (Kind::Float, Device::Cpu));
        let f = tch::no_grad(|| b.features(&x, &Fwd::eval(None)));
        assert_eq!(f.size(), vec![2, dim], "{arch:?} with {channels} channels");
    }
    let (vs, _) = backbone(Arch::ResNet18Cifar, 3, 20);
    assert_eq!(vs.variables()["conv1.weight"].size(), vec![20, 3, 3, 3]);
}

#[test]
fn calibration_adds_9_alpha_plus_beta_plus_2_per_channel() {
    for (arch, width, size, ch) in [
        ("resnet18", 64, 64, 3),
        ("resnet18_cifar", 20, 32, 3),
        ("convnet", 8, 28, 1),
    ] {
        for (alpha, beta) in [(1, 1), (2, 1), (4, 2), (4, 4)] {
            let cfg = config(arch, width, "ccll", alpha, beta);
            let (_vs, b) = backbone(Arch::parse(arch).unwrap(), ch, width);
            let channels: i64 = b.calibration_points().iter().map(|p| p.channels).sum();
            let report = param_report_for(&cfg, [ch, size, size], &[10, 10, 10]).unwrap();
            let expected = ((9 * alpha + beta + 2) * channels) as u64;
            assert_eq!(
                report.per_task[0].calibration_params, 0,
                "task 1 trains the base"
            );
            assert_eq!(
                report.per_task[1].calibration_params, expected,
                "{arch} a={alpha} b={beta}"
            );
            assert_eq!(report.per_task[2].calibration_params, expected);
            assert_eq!(
                report.per_task[1].head_params,
                (b.feature_dim() * 10 + 10) as u64
            );
            if (alpha, beta) == (1, 1) {
                assert_eq!(expected, 12 * channels as u64);
            }
        }
    }
}

#[test]
fn the_report_agrees_with_the_variable_stores() {
    let cfg = config("resnet18_cifar", 20, "ccll", 2, 1);
    let ctx = cfg.strategy_context(Device::Cpu, [3, 32, 32], vec![10, 10, 10]);
    let mut s = build_strategy(&ctx).unwrap();
    for t in 0..3 {
        s.begin_task(t).unwrap();
    }
    let count = |prefix: &str| -> u64 {
        s.state()
            .iter()
            .filter(|(n, _)| n.starts_with(prefix) && !n.contains("running_"))
            .map(|(_, t)| t.numel() as u64)
            .sum()
    };
    let report = param_report_for(&cfg, [3, 32, 32], &[10, 10, 10]).unwrap();
    assert_eq!(report.backbone_params, count("base."));
    assert_eq!(
        report.per_task[1].calibration_params,
        count("task2.calibration.")
    );
    assert_eq!(report.per_task[2].head_params, count("task3.head."));
    let heads: u64 = report.per_task.iter().map(|t| t.head_params).sum();
    assert_eq!(report.base_params, report.backbone_params + heads);
    let growth = 100.0 * report.per_task[1].calibration_params as f64 / report.base_params as f64;
    assert_eq!(report.per_task[1].growth_pct, growth);
}

#[test]
fn head_only_and_scm_only_count_what_they_build() {
    let r = param_report_for(
        &config("convnet", 8, "head_only", 1, 1),
        [1, 28, 28],
        &[2, 2],
    )
    .unwrap();
    assert_eq!(r.per_task[1].calibration_params, 0);
    let r = param_report_for(
        &config("convnet", 8, "scm_only", 2, 1),
        [1, 28, 28],
        &[2, 2],
    )
    .unwrap();
    // convnet width 8: channels 8 + 16 + 32.
    assert_eq!(r.per_task[1].calibration_params, 9 * 2 * 56);
    let r = param_report_for(
        &config("convnet", 8, "ccm_only", 1, 4),
        [1, 28, 28],
        &[2, 2],
    )
    .unwrap();
    assert_eq!(r.per_task[1].calibration_params, (4 + 2) * 56);
}

#[test]
fn calibration_flops_are_small_against_the_base_at_alpha_1() {
    let r = param_report_for(&config("resnet18", 64, "ccll", 1, 1), [3, 224, 224], &[10]).unwrap();
    // torchvision's resnet18 is 1.82 GMACs; we count 2 FLOPs per MAC, convs + one head.
    assert!(
        (3.6e9..3.7e9).contains(&(r.flops.base as f64)),
        "{}",
        r.flops.base
    );
    assert!(r.flops.calibration > 0 && r.flops.calibration * 50 < r.flops.base);
}

/// `t` laid out channels-last (NHWC), as activations are on the CPU.
fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

fn ramp(shape: &[i64], phase: f64) -> Tensor {
    let n: i64 = shape.iter().product();
    (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.37 + phase)
        .sin()
        .view(shape)
}

/// Every variable and BN statistic of `vs` set to varied, well-scaled values (no RNG:
/// other tests share libtorch's generator).
fn set_values(vs: &nn::VarStore) {
    tch::no_grad(|| {
        let mut variables: Vec<_> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (name, mut t)) in variables.into_iter().enumerate() {
            let size = t.size();
            let wave = ramp(&size, i as f64);
            // Gains near 1 per layer (calibration's small): activations of about the
            // input's size, so that float32's rounding stays at float32's size (with
            // gains of a few per layer the composed network itself drifted from float64).
            let calibration = name.contains(".scm.") || name.contains(".ccm.");
            let values = if name.ends_with("running_var") {
                wave.abs() * 0.5 + 0.5
            } else if name.ends_with("running_mean") || name.ends_with("bias") {
                wave * 0.1
            } else if size.len() == 4 {
                let fan_in: i64 = size[1..].iter().product();
                let gain = if calibration { 0.3 } else { 1.0 };
                wave * (gain / (fan_in as f64).sqrt())
            } else if calibration {
                wave * 0.3
            } else {
                wave * 0.2 + 1.0
            };
            t.copy_(&values);
        }
    });
}

/// The network at inference through the fused kernels (BN, calibration, ReLU and the
/// blocks' residual adds) against the same network as libtorch operations, which the
/// forward takes when autograd records (an input that requires a gradient), with and
/// without calibration: a shortcut with its own conv, a single-channel first conv.
#[test]
fn the_network_at_inference_through_the_fused_kernels_is_the_composed_network() {
    let cases = [
        (Arch::ResNet18Cifar, 3, 16, 32, 4),
        (Arch::ConvNet, 1, 8, 28, 2),
    ];
    for (arch, in_channels, width, size, alpha) in cases {
        let vs = nn::VarStore::new(Device::Cpu);
        let backbone = Backbone::new(&vs.root(), arch, in_channels, width);
        let spec = CalibrationSpec {
            alpha,
            beta: alpha,
            scm: true,
            ccm: true,
        };
        let cal = Calibration::new(&(vs.root() / "cal"), backbone.calibration_points(), spec)
            .expect("alpha divides every width");
        set_values(&vs);
        let x = channels_last(&ramp(&[2, in_channels, size, size], 0.5));
        for calibration in [None, Some(&cal)] {
            let fwd = Fwd::eval(calibration);
            let fused = tch::no_grad(|| backbone.features(&x, &fwd));
            let composed = backbone
                .features(&x.copy().set_requires_grad(true), &fwd)
                .detach();
            assert!(composed.abs().max().double_value(&[]) > 0.1, "not all zero");
            let diff = (&fused - &composed).abs().max().double_value(&[]);
            let scale = composed.abs().max().double_value(&[]);
            assert!(
                diff <= 1e-5 * scale,
                "{arch:?}, calibrated {}: differs by {diff} (largest {scale})",
                calibration.is_some()
            );
        }
    }
}
