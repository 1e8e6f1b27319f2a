// Shared by the examples (not part of the library): run the example's body and turn a libssl
// or LibTorch error into one readable line on stderr and exit code 1 (no backtrace dump).
#pragma once
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

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

/// `--resume`: continue `trainer` from `checkpoint` when asked and when the file exists.
template <class T>
void resume_if(bool resume, T& trainer, const std::string& checkpoint) {
  if (!resume || !std::filesystem::exists(checkpoint)) return;
  trainer.load(checkpoint);
  std::printf("resumed from %s at step %lld\n", checkpoint.c_str(), (long long)trainer.step());
}
}  // namespace ex
