// How the C++ shims hand an exception's message back to Rust: copied, NUL-terminated and
// truncated to fit, into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstring>

namespace ccll {

inline void copy_message(const char* what, char* error, size_t error_len) {
  if (error != nullptr && error_len > 0) {
    std::strncpy(error, what, error_len - 1);
    error[error_len - 1] = '\0';
  }
}

}  // namespace ccll
