fn main() {
    libtorch_link::emit();
    // The shims' shared header (the .cpp files are watched by compile_cpp).
    println!("cargo:rerun-if-changed=csrc/ffi_error.h");
    libtorch_link::compile_cpp(
        "ccll_core_cpp",
        &["csrc/generator_state.cpp", "csrc/calibration_inference.cpp"],
    );
}
