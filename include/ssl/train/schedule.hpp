#pragma once
/// \file train/schedule.hpp
/// Learning-rate schedules: a factor in [0,1] multiplied into the optimizer's base lr.
#include <ssl/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ssl::schedule {

/// Linear warmup from 0 over `warmup_epochs`, then half-cosine (or, with `linear`, a straight
/// line) down to `final_factor`.
/// Example: `schedule::CosineWarmup{.warmup_epochs = 5}`.
struct CosineWarmup {
  double warmup_epochs = 0.0;  ///< epochs of linear warmup (fractions allowed)
  double final_factor = 0.0;  ///< the factor at the last step
  bool linear = false;  ///< linear decay after the warmup instead of the half-cosine (BERT's, ELECTRA's)

  /// The learning-rate factor of step `i` (in [final_factor, 1]).
  [[nodiscard]] double operator()(const StepInfo& i) const {
    const double warm = warmup_epochs * double(std::max<int64_t>(i.steps_per_epoch, 1));
    const double s = double(i.step);
    if (s < warm) return s / warm;
    const double rest = std::max(1.0, double(i.total_steps) - warm);
    const double t = std::clamp((s - warm) / rest, 0.0, 1.0);
    const double shape = linear ? 1.0 - t : 0.5 * (1.0 + std::cos(std::numbers::pi * t));
    return final_factor + (1.0 - final_factor) * shape;
  }
};
/// `CosineWarmup{warmup_epochs, final_factor}`.
inline CosineWarmup cosine_warmup(double warmup_epochs, double final_factor = 0.0) {
  return {warmup_epochs, final_factor};
}

/// A constant factor of 1.
struct Constant {
  /// 1 at every step.
  [[nodiscard]] double operator()(const StepInfo&) const { return 1.0; }
};

}  // namespace ssl::schedule
