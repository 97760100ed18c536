//! Saving and restoring the state of libtorch's default random generator of a device (CPU,
//! or a CUDA device), through a small C++ shim (`csrc/generator_state.cpp`): tch can seed
//! the generators but not read them, and an in-task checkpoint has to continue the draws
//! exactly where the interrupted run was.

use std::ffi::{c_char, c_int, CStr};
use tch::{Device, Tensor};
use torch_sys::C_tensor;

extern "C" {
    fn ccll_generator_get_state(cuda_index: c_int, error: *mut c_char, len: usize)
        -> *mut C_tensor;
    fn ccll_generator_set_state(
        cuda_index: c_int,
        state: *const C_tensor,
        error: *mut c_char,
        len: usize,
    ) -> c_int;
}

fn index_of(device: Device) -> c_int {
    match device {
        Device::Cuda(i) => i as c_int,
        _ => -1,
    }
}

fn message(buf: &[c_char]) -> String {
    // SAFETY: the shim always leaves a NUL-terminated string in the buffer on failure.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The state of `device`'s default generator (a uint8 tensor on the CPU).
pub fn generator_state(device: Device) -> anyhow::Result<Tensor> {
    let mut error = [0 as c_char; 512];
    // SAFETY: the shim returns a tensor allocated as tch's own (freed by `Tensor`'s drop), or
    // null with a message.
    let ptr =
        unsafe { ccll_generator_get_state(index_of(device), error.as_mut_ptr(), error.len()) };
    if ptr.is_null() {
        anyhow::bail!(
            "cannot read the random generator's state of {device:?}: {}",
            message(&error)
        );
    }
    Ok(unsafe { Tensor::from_ptr(ptr) })
}

/// Sets `device`'s default generator to a state from [`generator_state`].
pub fn set_generator_state(device: Device, state: &Tensor) -> anyhow::Result<()> {
    let mut error = [0 as c_char; 512];
    // SAFETY: `state` is a live tensor for the duration of the call.
    let rc = unsafe {
        ccll_generator_set_state(
            index_of(device),
            state.as_ptr(),
            error.as_mut_ptr(),
            error.len(),
        )
    };
    anyhow::ensure!(
        rc == 0,
        "cannot restore the random generator's state of {device:?}: {}",
        message(&error)
    );
    Ok(())
}
