//! The fused calibration kernel for inference (`csrc/calibration_inference.cpp`): SCM, CCM's
//! pooling, gate and multiply in one pass over an NHWC activation on the CPU, where libtorch
//! takes a small convolution and three more memory passes. Inference only: it has no
//! backward, so [`super::CalibrationLayer`] calls it only where autograd does not record.

use std::ffi::{c_char, c_int, CStr};
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
        error: *mut c_char,
        len: usize,
    ) -> *mut C_tensor;
}

/// Whether autograd records operations on this thread (false inside `tch::no_grad`).
pub fn grad_mode_enabled() -> bool {
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
/// contiguous. Returns a new channels-last tensor.
///
/// # Panics
/// On an input the kernel does not take (a caller's bug: [`super::CalibrationLayer`] checks
/// the conditions first), with the kernel's reason.
pub fn calibrate(x: &Tensor, kernel: &Tensor, alpha: i64, ccm: Option<&EvalCcm>) -> Tensor {
    let mut error = [0 as c_char; 512];
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
    // SAFETY: every tensor is live for the call; the kernel returns a tensor allocated as
    // tch's own (freed by `Tensor`'s drop), or null with a NUL-terminated message.
    let ptr = unsafe {
        ccll_calibration_inference(
            x.as_ptr(),
            kernel.as_ptr(),
            alpha,
            weight,
            beta,
            scale,
            shift,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    if ptr.is_null() {
        let why = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy();
        panic!("the fused calibration kernel refused its input: {why}");
    }
    unsafe { Tensor::from_ptr(ptr) }
}
