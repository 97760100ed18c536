//! ccll and the PyTorch reference (`reference/ccll_ref.py`) compute the same function: on the
//! same weights (BN statistics and calibration moved off their initial values) and the same
//! batch, the same loss, the same gradient norms for the same set of trained tensors, and the
//! same loss after one SGD step (momentum, weight decay). Small shapes, CPU.
//!
//! Needs `.venv/bin/python` with torch (setup.sh installs it); without it the tests print why
//! and pass.

use ccll_bench::model::ModelSpec;
use ccll_bench::reference::Reference;
use ccll_bench::throughput::{check_equivalence, check_equivalence_with, LOSS_TOLERANCE};
use tch::Device;

fn reference() -> Option<Reference> {
    match Reference::locate() {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("SKIPPED: no PyTorch reference available: {e:#}");
            None
        }
    }
}

fn assert_same(r: &Reference, spec: &ModelSpec) {
    let e = check_equivalence(r, spec, Device::Cpu, 1, 42).unwrap();
    assert!(e.holds(), "{}: {}", spec.label(), e.summary());
    assert!(
        (e.loss_ratio() - 1.0).abs() <= LOSS_TOLERANCE,
        "{}",
        e.summary()
    );
    // The step changed something: the check is not comparing two untouched models.
    assert_ne!(e.ours_loss, e.ours_after, "{}", e.summary());
}

#[test]
fn calibrated_resnet18_cifar_matches_pytorch() {
    let Some(r) = reference() else { return };
    // Every alpha of the ablation, so every SCM formulation ours selects is checked: in
    // training, channel offsets at alpha 2 on CPU and the grouped conv otherwise; at inference
    // (the loss in eval mode), every form of the fused kernel: channel offsets (the 4-channel
    // first stage), in-lane shuffles (alpha 1, 2, 4 on 8 channels and more) and broadcast
    // (alpha 8). Width 8 for alpha 8.
    for (alpha, width) in [(1, 4), (2, 4), (4, 4), (8, 8)] {
        let spec = ModelSpec::new("resnet18_cifar", width, 2, alpha)
            .with_image(3, 8)
            .with_batch(8);
        assert_same(&r, &spec);
    }
}

#[test]
fn convnet_matches_pytorch_for_the_base_and_for_calibration() {
    let Some(r) = reference() else { return };
    assert_same(&r, &ModelSpec::new("convnet", 4, 1, 1).with_batch(8));
    assert_same(&r, &ModelSpec::new("convnet", 4, 2, 2).with_batch(8));
}

#[test]
fn imagenet_stem_resnet18_matches_pytorch() {
    let Some(r) = reference() else { return };
    let spec = ModelSpec::new("resnet18", 4, 2, 1)
        .with_image(3, 16)
        .with_batch(4);
    assert_same(&r, &spec);
}

#[test]
fn the_check_notices_a_different_update_rule() {
    let Some(r) = reference() else { return };
    let spec = ModelSpec::new("convnet", 4, 2, 1).with_batch(8);
    // Same forward pass, but the reference steps without weight decay: the loss before the
    // step agrees, the loss after it must not.
    let e = check_equivalence_with(&r, &spec, Device::Cpu, 1, 42, &|s| {
        s["weight_decay"] = 0.0.into();
        s["momentum"] = 0.0.into();
        s["lr"] = 0.5.into();
    })
    .unwrap();
    assert!(
        (e.loss_ratio() - 1.0).abs() <= LOSS_TOLERANCE,
        "{}",
        e.summary()
    );
    assert!(
        !e.holds(),
        "a different step went unnoticed: {}",
        e.summary()
    );
}
