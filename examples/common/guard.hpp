// Shared by the examples (not part of the library): run the example's body and turn a libssl
// or LibTorch error into one readable line on stderr and exit code 1 (no backtrace dump).
#pragma once
#include <torch/torch.h>

#include <cstdio>
#include <exception>

namespace ex {
template <class F>
int guarded(F&& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 1;
}
}  // namespace ex
