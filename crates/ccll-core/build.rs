fn main() {
    libtorch_link::emit();
    libtorch_link::compile_cpp("ccll_generator_state", &["csrc/generator_state.cpp"]);
}
