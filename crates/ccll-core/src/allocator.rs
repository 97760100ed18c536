//! The C allocator's settings for training processes.
//!
//! libtorch's CPU tensors come from glibc's `malloc`. By default glibc serves every block of
//! 128 KiB or more (a batch's activations, their gradients) with a fresh `mmap` and gives it
//! back on free, and trims the heap's top whenever 128 KiB are free: every training step then
//! faults in, zeroes and unmaps the same megabytes again. `ccll-bench` measured it: a third of
//! a convnet training step on CPU went to page faults (`perf`: `clear_page_erms`,
//! `exc_page_fault`), and the calibration's extra activations paid it twice. Keeping freed
//! memory in the process (as PyTorch's CUDA caching allocator does on GPUs) removes it; the
//! peak resident memory is unchanged, only no longer handed back between steps.

/// Raises glibc's mmap and trim thresholds to 1 GiB for this process. Call it first thing in
/// `main`, before any allocation worth keeping. Does nothing on other C libraries.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ONE_GIB: libc::c_int = 1 << 30;
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
        }
    }
}
