//! Build-script helper for every crate whose binaries or tests link libtorch.
//!
//! torch-sys finds libtorch at build time but does not make the final executables find it at
//! run time, and the linker's default `--as-needed` drops `libtorch_cuda.so` because no symbol
//! of it is referenced directly, which leaves `tch::Cuda::is_available()` false on GPU machines
//! (tch-rs issues #329, #907). Call [`emit`] from `build.rs` of a crate that depends on
//! `torch-sys` directly (that is what makes cargo pass `DEP_TCH_LIBTORCH_LIB`).

use std::path::PathBuf;

/// Prints the cargo instructions: an rpath to libtorch's `lib/`, and `torch_cuda` linked with
/// `--no-as-needed` where the library exists.
pub fn emit() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is not set: add torch-sys as a direct \
             dependency of this crate so that its binaries get an rpath to libtorch"
        );
        return;
    };
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
