#pragma once
/// \file teacher/ema.hpp
/// Exponential moving average teacher (BYOL, DINO, MoCo v3, iBOT): after each optimizer step
/// `teacher = m * teacher + (1 - m) * student`, with the momentum `m` rising from `base` to
/// `final` on a half cosine over the run (BYOL's schedule: m = final - (final - base) *
/// (cos(pi * step / total) + 1) / 2). One `_foreach_lerp_` updates every tensor at once.
#include <ssl/core/types.hpp>

#include <cmath>
#include <numbers>
#include <vector>

namespace ssl::teacher {

/// Example: `teacher::Ema{.base = 0.996, .final = 1.0}`.
struct Ema {
  double base = 0.996;  ///< the momentum at step 0
  double final = 1.0;   ///< the momentum at the last step (1: the teacher stops moving)

  /// The momentum m at `i.step` of `i.total_steps` (the half cosine from `base` to `final`).
  [[nodiscard]] double momentum(const StepInfo& i) const {
    const double t = i.total_steps > 0 ? std::min(1.0, double(i.step) / double(i.total_steps)) : 1.0;
    return final - (final - base) * (std::cos(std::numbers::pi * t) + 1.0) / 2.0;
  }

  /// `teacher = m * teacher + (1 - m) * student`, tensor by tensor, in place and without
  /// gradient; the two lists must match in length and shapes (nothing to do when empty).
  void operator()(const std::vector<torch::Tensor>& student, const std::vector<torch::Tensor>& teacher,
                  const StepInfo& info) const {
    TORCH_CHECK(base >= 0 && base <= 1 && final >= 0 && final <= 1, "teacher::Ema: the momentum must be in [0, 1] ",
                "(1: the teacher stops moving), got base = ", base, " and final = ", final);
    TORCH_CHECK(student.size() == teacher.size(), "teacher::Ema: the student has ", student.size(),
                " parameter tensors, the teacher ", teacher.size(), "; the teacher must be a copy of the student");
    if (teacher.empty()) return;
    for (size_t i = 0; i < student.size(); ++i)
      TORCH_CHECK(student[i].sizes() == teacher[i].sizes(), "teacher::Ema: tensor ", i, " has shape ",
                  student[i].sizes(), " in the student and ", teacher[i].sizes(), " in the teacher");
    torch::NoGradGuard g;
    std::vector<torch::Tensor> s;
    s.reserve(student.size());
    for (const auto& t : student) s.push_back(t.detach());
    auto t = teacher;
    at::_foreach_lerp_(t, s, 1.0 - momentum(info));
  }
};

}  // namespace ssl::teacher
