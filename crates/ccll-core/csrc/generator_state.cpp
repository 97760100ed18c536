// The state of libtorch's default random generators, which tch does not expose: saved with a
// run's in-task checkpoint so that a resumed run draws what an uninterrupted one would.
// A device index of -1 is the CPU generator, 0.. a CUDA device's.

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <exception>
#include <mutex>

#include "ffi_error.h"

namespace {

c10::Device device_of(int cuda_index) {
  if (cuda_index < 0) {
    return c10::Device(c10::DeviceType::CPU);
  }
  return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(cuda_index));
}

}  // namespace

extern "C" {

// A new tensor (owned by the caller, freed as tch frees tensors) holding the generator's
// state, or null with the reason in `error`.
at::Tensor* ccll_generator_get_state(int cuda_index, char* error, size_t error_len) {
  try {
    auto gen = at::globalContext().defaultGenerator(device_of(cuda_index));
    std::lock_guard<std::mutex> lock(gen.mutex());
    return new at::Tensor(gen.get_state());
  } catch (const std::exception& e) {
    ccll::copy_message(e.what(), error, error_len);
    return nullptr;
  }
}

// Sets the generator's state; 0 on success, else -1 with the reason in `error`.
int ccll_generator_set_state(int cuda_index, const at::Tensor* state, char* error,
                             size_t error_len) {
  try {
    auto gen = at::globalContext().defaultGenerator(device_of(cuda_index));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(*state);
    return 0;
  } catch (const std::exception& e) {
    ccll::copy_message(e.what(), error, error_len);
    return -1;
  }
}

}  // extern "C"
