fn main() {
    libtorch_link::emit();
    libtorch_link::compile_cpp(
        "ccll_core_cpp",
        &["csrc/generator_state.cpp", "csrc/calibration_inference.cpp"],
    );
}
