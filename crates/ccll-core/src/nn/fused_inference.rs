//! The fused calibration kernel for inference (`csrc/calibration_inference.cpp`): SCM, CCM's
//! pooling, gate and multiply in one pass over an NHWC activation on the CPU, where libtorch
//! takes a small convolution and three more memory passes. Inference only: it has no
//! backward, so [`super::CalibrationLayer`] calls it only where autograd does not record.

use super::After;
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use tch::Tensor;
use torch_sys::C_tensor;

extern "C" {
    fn ccll_grad_mode_enabled() -> c_int;
    fn ccll_calibration_inference_lanes(cap: c_int) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn ccll_calibration_inference(
        x: *const C_tensor,
        kernel: *const C_tensor,
        alpha: i64,
        ccm_weight: *const C_tensor,
        beta: i64,
        ccm_scale: *const C_tensor,
        ccm_shift: *const C_tensor,
        bn: *const CFrozenBn,
        residual: *const C_tensor,
        relu: c_int,
        error: *mut c_char,
        len: usize,
    ) -> *mut C_tensor;
    fn ccll_batch_norm_inference(
        x: *const C_tensor,
        bn: *const CFrozenBn,
        residual: *const C_tensor,
        relu: c_int,
        error: *mut c_char,
        len: usize,
    ) -> *mut C_tensor;
}

/// `CcllFrozenBn` of the kernel.
#[repr(C)]
struct CFrozenBn {
    weight: *const C_tensor,
    bias: *const C_tensor,
    running_mean: *const C_tensor,
    running_var: *const C_tensor,
    eps: f64,
}

/// A conv's batch norm in eval mode (running statistics), as the kernel folds it into a
/// scale and shift per channel; every tensor `[C]`, contiguous float.
pub struct FrozenBn<'a> {
    pub weight: &'a Tensor,
    pub bias: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    pub eps: f64,
}

impl FrozenBn<'_> {
    fn to_c(&self) -> CFrozenBn {
        CFrozenBn {
            weight: self.weight.as_ptr(),
            bias: self.bias.as_ptr(),
            running_mean: self.running_mean.as_ptr(),
            running_var: self.running_var.as_ptr(),
            eps: self.eps,
        }
    }
}

/// The residual's pointer (null for none) and the ReLU flag of `after`.
fn after_args(after: After) -> (*const C_tensor, c_int) {
    match after {
        After::Nothing => (std::ptr::null(), 0),
        After::Relu => (std::ptr::null(), 1),
        After::AddRelu(residual) => (residual.as_ptr(), 1),
    }
}

/// Runs one of the kernel's entry points with an error buffer, and takes the tensor it returns.
///
/// # Panics
/// With the kernel's reason where it refused its input (a caller's bug: the callers check the
/// conditions first).
fn take_result(call: impl FnOnce(*mut c_char, usize) -> *mut C_tensor) -> Tensor {
    let mut error = [0 as c_char; 512];
    let ptr = call(error.as_mut_ptr(), error.len());
    if ptr.is_null() {
        // SAFETY: on failure the kernel wrote a NUL-terminated message into `error`.
        let why = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy();
        panic!("the fused calibration kernel refused its input: {why}");
    }
    // SAFETY: the kernel returns a tensor allocated as tch's own (freed by `Tensor`'s drop).
    unsafe { Tensor::from_ptr(ptr) }
}

/// Whether inference may take the fused kernels (see [`set_fused_inference`]).
static FUSED_INFERENCE: AtomicBool = AtomicBool::new(true);

/// Lets inference take the fused kernels (`true`, the default) or makes it compute the
/// composed libtorch operations that training uses (`false`), for the whole process: for
/// benchmarks that measure the two side by side, and for checking one against the other.
pub fn set_fused_inference(enabled: bool) {
    FUSED_INFERENCE.store(enabled, Ordering::Relaxed);
}

/// Whether the fused kernels are enabled and take `x` as their input: a float `[N, C, H, W]`
/// CPU tensor stored NHWC.
pub fn takes(x: &Tensor) -> bool {
    FUSED_INFERENCE.load(Ordering::Relaxed)
        && x.device() == tch::Device::Cpu
        && x.kind() == tch::Kind::Float
        && super::conv_bn::is_channels_last(x)
}

/// Whether autograd would record an operation on `inputs` (the kernels have no backward).
pub fn records(inputs: &[&Tensor]) -> bool {
    grad_mode_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// Whether autograd records operations on this thread (false inside `tch::no_grad`).
fn grad_mode_enabled() -> bool {
    // SAFETY: reads a thread-local flag.
    unsafe { ccll_grad_mode_enabled() != 0 }
}

/// Floats per vector the kernel runs with on this CPU: 16 (AVX-512), 8 (AVX2 + FMA) or 4 (SSE).
pub fn fused_kernel_lanes() -> i32 {
    // SAFETY: reads the CPU's features and a process-wide cap (0: leaves the cap alone).
    unsafe { ccll_calibration_inference_lanes(0) }
}

/// Caps the kernel's vectors at `lanes` floats for the whole process (8: AVX2 even where the
/// CPU has AVX-512; 16: the widest, the default) and returns the width it now runs with. The
/// widths give the same values bit for bit; this is for comparing them (tests, benchmarks).
pub fn cap_fused_kernel_lanes(lanes: i32) -> i32 {
    assert!(
        lanes == 8 || lanes == 16,
        "the kernel's vectors are 8 or 16 floats, not {lanes}"
    );
    // SAFETY: stores the cap in an atomic and reads the CPU's features.
    unsafe { ccll_calibration_inference_lanes(lanes) }
}

/// CCM in eval mode as the kernel takes it: the 1x1 group conv's weight `[C, beta]` and BN
/// folded into one scale and shift per channel (all contiguous float).
pub struct EvalCcm {
    pub weight: Tensor,
    pub beta: i64,
    pub scale: Tensor,
    pub shift: Tensor,
}

/// `CCM(SCM(x))` (or `SCM(x)` without `ccm`) for `x` `[N, C, H, W]` float on the CPU, stored
/// channels-last; `kernel` is SCM's `[C, alpha, 3, 3]` with the residual folded in,
/// contiguous. Where `bn` is given, `x` is a conv's output and its frozen BN comes first;
/// `after` follows (`residual` NHWC, the shape of `x`). Returns a new channels-last tensor.
///
/// # Panics
/// On an input the kernel does not take (a caller's bug: [`super::CalibrationLayer`] checks
/// the conditions first), with the kernel's reason.
pub fn calibrate(
    x: &Tensor,
    kernel: &Tensor,
    alpha: i64,
    ccm: Option<&EvalCcm>,
    bn: Option<&FrozenBn>,
    after: After,
) -> Tensor {
    let null = std::ptr::null::<C_tensor>();
    let (weight, beta, scale, shift) = match ccm {
        Some(c) => (
            c.weight.as_ptr(),
            c.beta,
            c.scale.as_ptr(),
            c.shift.as_ptr(),
        ),
        None => (null, 0, null, null),
    };
    let bn = bn.map(FrozenBn::to_c);
    let bn_ptr = bn
        .as_ref()
        .map_or(std::ptr::null(), |b| b as *const CFrozenBn);
    let (residual, relu) = after_args(after);
    // SAFETY: every tensor is live for the call.
    take_result(|error, len| unsafe {
        ccll_calibration_inference(
            x.as_ptr(),
            kernel.as_ptr(),
            alpha,
            weight,
            beta,
            scale,
            shift,
            bn_ptr,
            residual,
            relu,
            error,
            len,
        )
    })
}

/// `after(BN(x))` in one pass, for a conv's output `x` (as [`calibrate`] takes it) where no
/// calibration follows the BN: the base network's layers. Returns a new channels-last tensor.
///
/// # Panics
/// On an input the kernel does not take (a caller's bug), with the kernel's reason.
pub fn batch_norm_then(x: &Tensor, bn: &FrozenBn, after: After) -> Tensor {
    let bn = bn.to_c();
    let (residual, relu) = after_args(after);
    // SAFETY: every tensor is live for the call.
    take_result(|error, len| unsafe {
        ccll_batch_norm_inference(x.as_ptr(), &bn, residual, relu, error, len)
    })
}
