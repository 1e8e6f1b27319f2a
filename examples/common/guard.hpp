// Shared by the examples (not part of the library): run the example's body and turn a libssl
// or LibTorch error into one readable line on stderr and exit code 1 (no backtrace dump).
#pragma once
#include <torch/torch.h>

#include <cmath>
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

/// Steps between the checkpoints an example writes while it trains (and one at the end): a run
/// killed at any moment loses at most this many steps, and `--resume` continues from there.
inline constexpr int64_t checkpoint_every = 100;

/// `--resume`: continue `trainer` from `checkpoint` (an error when it does not exist: a resume
/// never silently starts over).
template <class T>
void resume_if(bool resume, T& trainer, const std::string& checkpoint) {
  if (!resume) return;
  TORCH_CHECK(std::filesystem::exists(checkpoint), "--resume: no checkpoint at '", checkpoint,
              "' (a run writes it every ", checkpoint_every, " steps into its --out folder); run without --resume to start afresh");
  trainer.load(checkpoint);
  std::printf("resumed from %s at step %lld\n", checkpoint.c_str(), (long long)trainer.step());
}

/// The final epoch's loss as `Trainer::fit` returned it, for the summary line: NaN is a fit that
/// took no step (a `--resume` of a run already at its end), said so rather than printed as a loss.
inline std::string loss_text(double loss) {
  if (std::isnan(loss)) return "none (no step taken in this run)";
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", loss);
  return b;
}
}  // namespace ex
