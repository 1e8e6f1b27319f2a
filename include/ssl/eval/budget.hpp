#pragma once
/// \file eval/budget.hpp
/// Label budgets: the epochs a classifier trained on few labels runs, so that a small budget is
/// not also a short run (the fine-tuning of `finetune.hpp` and the probes of `frozen.hpp`).
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

namespace ssl::eval {

/// The epochs of a run that takes `steps_per_epoch` optimizer steps per epoch: `epochs`, raised
/// until the run takes at least `min_steps` steps. Example: 1 step per epoch (100 labels, batch
/// 128), 5 epochs, at least 195 steps: 195 epochs.
inline int64_t epochs_for_steps(int64_t steps_per_epoch, int64_t epochs, int64_t min_steps) {
  TORCH_CHECK(steps_per_epoch >= 1 && epochs >= 0 && min_steps >= 0, "eval::epochs_for_steps: expected ",
              "steps_per_epoch >= 1 and epochs, min_steps >= 0, got ", steps_per_epoch, ", ", epochs, " and ", min_steps);
  return std::max(epochs, (min_steps + steps_per_epoch - 1) / steps_per_epoch);
}

}  // namespace ssl::eval
