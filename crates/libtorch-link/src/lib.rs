//! Build-script helper for every crate whose binaries or tests link libtorch.
//!
//! torch-sys finds libtorch at build time but does not make the final executables find it at
//! run time, and the linker's default `--as-needed` drops `libtorch_cuda.so` because no symbol
//! of it is referenced directly, which leaves `tch::Cuda::is_available()` false on GPU machines
//! (tch-rs issues #329, #907). Call [`emit`] from `build.rs` of a crate that depends on
//! `torch-sys` directly (that is what makes cargo pass `DEP_TCH_LIBTORCH_LIB`), and
//! [`compile_cpp`] for C++ of its own that uses libtorch's C++ API.
//!
//! No tests of its own: every build of those crates runs it, and `just test` leaves this crate
//! out (the justfile says why).

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

/// Compiles C++ `files` (relative to the crate) against libtorch's headers, as torch-sys
/// compiles its own glue (C++17, the ABI of the libtorch build), into a static library
/// `name` linked into the crate; the symbols it uses come from the libtorch that torch-sys
/// links. Always optimised (`-O3`: kernels are timed, and a debug build's tests would crawl
/// through them), with OpenMP so that `at::parallel_for` runs on libtorch's own thread pool:
/// the OpenMP runtime linked is the one libtorch ships and loads (`libgomp.so.1` beside it),
/// never a second one from the compiler.
pub fn compile_cpp(name: &str, files: &[&str]) {
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        panic!(
            "DEP_TCH_LIBTORCH_LIB is not set: {name} needs libtorch's headers; add torch-sys as \
             a direct dependency of this crate"
        );
    };
    let include = lib.join("../include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag("-fopenmp")
        .opt_level(3)
        .files(files)
        .compile(name);
    let gomp = openmp_runtime(&lib).unwrap_or_else(|| {
        panic!(
            "{name} needs libtorch's OpenMP runtime (libgomp*.so*) in {}: libtorch built with \
             OpenMP, as PyPI's torch and pytorch.org's libtorch are",
            lib.display()
        )
    });
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib:+verbatim={gomp}");
}

/// The file name of the OpenMP runtime libtorch ships in `lib` (`libgomp.so.1` in PyPI's
/// wheels, `libgomp-<hash>.so.1` in pytorch.org's libtorch archives).
fn openmp_runtime(lib: &std::path::Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("libgomp") && n.contains(".so"))
        .collect();
    names.sort();
    names.into_iter().next()
}
